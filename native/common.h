// Shared pieces of the pulse libtorch addon: the tensor registry and argument helpers.
// Every exported function goes through Guard<> so that a libtorch error (c10::Error) becomes a
// JavaScript Error carrying libtorch's message instead of terminating the process.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <unordered_map>
#include <string>
#include <vector>

namespace pulse {

// Tensors live in a native table keyed by integer ids; JavaScript holds only the id. dispose()
// erases the entry at once. (One wrapped JS object per tensor would leave a small native object
// behind each op until Node runs finalizers, which it does only when the event loop turns: a
// synchronous training loop would grow without bound.)
int64_t RegisterTensor(Napi::Env env, torch::Tensor tensor);
// Frees the tensor with this id; false when there is none (already disposed).
bool ReleaseTensor(Napi::Env env, int64_t id);
// nullptr when the id names no live tensor.
const torch::Tensor* FindTensor(int64_t id);
int64_t LiveTensorCount();

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
torch::ScalarType DtypeFromName(const std::string& name);
std::string DtypeName(torch::ScalarType type);
torch::Device DeviceFromName(const std::string& name);

inline Napi::Value Out(const Napi::CallbackInfo& info, torch::Tensor t) {
  return Napi::Number::New(info.Env(), static_cast<double>(RegisterTensor(info.Env(), std::move(t))));
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
