// Shared pieces of the pulse libtorch addon: the Tensor handle class and argument helpers.
// Every exported function goes through Guard<> so that a libtorch error (c10::Error) becomes a
// JavaScript Error carrying libtorch's message instead of terminating the process.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <atomic>
#include <string>
#include <vector>

namespace pulse {

// A JS object owning one torch::Tensor. dispose() frees it at once; the finalizer frees it if
// the JS object is collected first (a safety net, not the normal path).
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, torch::Tensor tensor);
  static bool Is(const Napi::Value& value);
  static TensorHandle* Unwrap(const Napi::Value& value);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  const torch::Tensor& tensor() const;
  void Release(Napi::Env env);

  static std::atomic<int64_t> live_count;

 private:
  torch::Tensor tensor_;
  int64_t accounted_bytes_ = 0;
  bool released_ = false;
};

extern Napi::FunctionReference* tensor_constructor;

// --- argument helpers (throw Napi::TypeError with the argument's position) ---
const torch::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i);
std::vector<int64_t> IntListArg(const Napi::CallbackInfo& info, size_t i);
int64_t IntArg(const Napi::CallbackInfo& info, size_t i);
int64_t IntArgOr(const Napi::CallbackInfo& info, size_t i, int64_t fallback);
double NumberArg(const Napi::CallbackInfo& info, size_t i);
double NumberArgOr(const Napi::CallbackInfo& info, size_t i, double fallback);
bool BoolArgOr(const Napi::CallbackInfo& info, size_t i, bool fallback);
std::string StringArg(const Napi::CallbackInfo& info, size_t i);
bool IsAbsent(const Napi::CallbackInfo& info, size_t i);
std::vector<torch::Tensor> TensorListArg(const Napi::CallbackInfo& info, size_t i);
// A number argument becomes a 0-dim tensor of `like`'s dtype so that binary ops broadcast.
torch::Tensor TensorOrScalarArg(const Napi::CallbackInfo& info, size_t i, const torch::Tensor& like);
torch::ScalarType DtypeFromName(const std::string& name);
std::string DtypeName(torch::ScalarType type);
torch::Device DeviceFromName(const std::string& name);

inline Napi::Value Out(const Napi::CallbackInfo& info, torch::Tensor t) {
  return TensorHandle::Wrap(info.Env(), std::move(t));
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("libtorch: ") + e.what());
  }
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, Guard<F>, name));
}

void InitTensorMethods(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);

}  // namespace pulse
