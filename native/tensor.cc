#include "common.h"

namespace pulse {

namespace {
struct Entry {
  torch::Tensor tensor;
  // CPU bytes reported to V8 as external memory (see Account), so that forgotten tensors still
  // prompt a GC; 0 until JavaScript asks.
  int64_t accounted_bytes;
};
// Ids are never reused: a stale id can only miss, never reach another tensor.
std::unordered_map<int64_t, Entry> registry;
int64_t next_id = 1;
int64_t accounted_total = 0;
}  // namespace

int64_t RegisterTensor(Napi::Env env, torch::Tensor tensor) {
  if (!tensor.defined()) throw Napi::Error::New(env, "libtorch returned an undefined tensor");
  const int64_t id = next_id++;
  registry.emplace(id, Entry{std::move(tensor), 0});
  return id;
}

// Reports a tensor's bytes to V8, once. JavaScript asks only for tensors no scope() will dispose
// (parameters, kept batches, tensors made outside any scope): those are the ones that can be
// forgotten. Reporting every op's output made V8 collect dozens of times a training step, its
// threads taking CPU from libtorch's (about 15% of a LLaVA LoRA step on 2 cores, bench:llava).
bool AccountTensor(Napi::Env env, int64_t id) {
  auto it = registry.find(id);
  if (it == registry.end() || it->second.accounted_bytes) return false;
  const auto& t = it->second.tensor;
  const int64_t bytes = t.device().is_cpu() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
  it->second.accounted_bytes = bytes;
  accounted_total += bytes;
  if (bytes) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  return true;
}

bool ReleaseTensor(Napi::Env env, int64_t id) {
  auto it = registry.find(id);
  if (it == registry.end()) return false;
  const int64_t bytes = it->second.accounted_bytes;
  registry.erase(it);
  accounted_total -= bytes;
  if (bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -bytes);
  return true;
}

const torch::Tensor* FindTensor(int64_t id) {
  auto it = registry.find(id);
  return it == registry.end() ? nullptr : &it->second.tensor;
}

int64_t LiveTensorCount() { return static_cast<int64_t>(registry.size()); }

namespace {
Napi::Value ToJsArray(Napi::Env env, const torch::Tensor& source) {
  torch::Tensor t = source.detach().to(torch::kCPU).contiguous();
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case torch::kFloat: {
      auto out = Napi::Float32Array::New(env, n);
      std::memcpy(out.Data(), t.data_ptr<float>(), n * sizeof(float));
      return out;
    }
    case torch::kDouble: {
      auto out = Napi::Float64Array::New(env, n);
      std::memcpy(out.Data(), t.data_ptr<double>(), n * sizeof(double));
      return out;
    }
    case torch::kLong: {
      auto out = Napi::BigInt64Array::New(env, n);
      std::memcpy(out.Data(), t.data_ptr<int64_t>(), n * sizeof(int64_t));
      return out;
    }
    case torch::kInt: {
      auto out = Napi::Int32Array::New(env, n);
      std::memcpy(out.Data(), t.data_ptr<int32_t>(), n * sizeof(int32_t));
      return out;
    }
    case torch::kBool:
    case torch::kByte: {
      auto out = Napi::Uint8Array::New(env, n);
      std::memcpy(out.Data(), t.data_ptr(), n);
      return out;
    }
    default: {
      torch::Tensor f = t.to(torch::kFloat);
      auto out = Napi::Float32Array::New(env, n);
      std::memcpy(out.Data(), f.data_ptr<float>(), n * sizeof(float));
      return out;
    }
  }
}
}  // namespace

namespace {
// Handle functions take the tensor's id first.

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ReleaseTensor(info.Env(), IntArg(info, 0)));
}
Napi::Value AccountedBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(accounted_total)); }
Napi::Value Account(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), AccountTensor(info.Env(), IntArg(info, 0)));
}
Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), FindTensor(IntArg(info, 0)) == nullptr);
}
Napi::Value Shape(const Napi::CallbackInfo& info) {
  const auto& t = TensorArg(info, 0);
  auto out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
  return out;
}
Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), DtypeName(TensorArg(info, 0).scalar_type())); }
Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), TensorArg(info, 0).device().str()); }
Napi::Value Numel(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(TensorArg(info, 0).numel())); }
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), TensorArg(info, 0).requires_grad()); }
Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  TensorArg(info, 0).requires_grad_(info[1].ToBoolean().Value());
  return info.Env().Undefined();
}
Napi::Value Grad(const Napi::CallbackInfo& info) {
  const auto& g = TensorArg(info, 0).grad();
  if (!g.defined()) return info.Env().Null();
  return Out(info, g);
}
Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  TensorArg(info, 0).mutable_grad().reset();
  return info.Env().Undefined();
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const auto& t = TensorArg(info, 0);
  if (IsAbsent(info, 1)) t.backward();
  else t.backward(TensorArg(info, 1));
  return info.Env().Undefined();
}
Napi::Value Item(const Napi::CallbackInfo& info) {
  const auto& t = TensorArg(info, 0);
  if (t.numel() != 1) throw Napi::Error::New(info.Env(), "item() needs a tensor with one element, got " + std::to_string(t.numel()));
  return Napi::Number::New(info.Env(), t.item<double>());
}
Napi::Value ToArray(const Napi::CallbackInfo& info) { return ToJsArray(info.Env(), TensorArg(info, 0)); }
Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  torch::Tensor t = TensorArg(info, 0).detach().to(torch::kCPU).contiguous();
  const size_t n = static_cast<size_t>(t.numel() * t.element_size());
  auto out = Napi::Buffer<uint8_t>::Copy(info.Env(), static_cast<const uint8_t*>(t.data_ptr()), n);
  return out;
}
}  // namespace

void InitTensorMethods(Napi::Env env, Napi::Object exports) {
  Export<Dispose>(env, exports, "dispose");
  Export<IsDisposed>(env, exports, "isDisposed");
  Export<Shape>(env, exports, "shape");
  Export<Dtype>(env, exports, "dtype");
  Export<Device>(env, exports, "device");
  Export<Numel>(env, exports, "numel");
  Export<RequiresGrad>(env, exports, "requiresGrad");
  Export<SetRequiresGrad>(env, exports, "setRequiresGrad");
  Export<Grad>(env, exports, "grad");
  Export<ZeroGrad>(env, exports, "zeroGrad");
  Export<Backward>(env, exports, "backward");
  Export<Account>(env, exports, "account");
  Export<AccountedBytes>(env, exports, "accountedBytes");
  Export<Item>(env, exports, "item");
  Export<ToArray>(env, exports, "toArray");
  Export<ToBytes>(env, exports, "toBytes");
}

// --- argument helpers ---

static Napi::TypeError ArgError(const Napi::CallbackInfo& info, size_t i, const std::string& want) {
  return Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be " + want);
}

bool IsAbsent(const Napi::CallbackInfo& info, size_t i) { return info.Length() <= i || info[i].IsUndefined() || info[i].IsNull(); }

const torch::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw ArgError(info, i, "a tensor");
  const torch::Tensor* t = FindTensor(info[i].As<Napi::Number>().Int64Value());
  if (!t) throw Napi::Error::New(info.Env(), "argument " + std::to_string(i) + ": tensor used after dispose()");
  return *t;
}

std::vector<int64_t> IntListArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsArray()) throw ArgError(info, i, "an array of integers");
  auto arr = info[i].As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) throw ArgError(info, i, "an array of integers");
    out[k] = v.As<Napi::Number>().Int64Value();
  }
  return out;
}

std::vector<torch::Tensor> TensorListArg(const Napi::CallbackInfo& info, size_t i) {
  std::vector<torch::Tensor> out;
  for (int64_t id : IntListArg(info, i)) {
    const torch::Tensor* t = FindTensor(id);
    if (!t) throw Napi::Error::New(info.Env(), "argument " + std::to_string(i) + ": tensor used after dispose()");
    out.push_back(*t);
  }
  return out;
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw ArgError(info, i, "an integer");
  return info[i].As<Napi::Number>().Int64Value();
}
int64_t IntArgOr(const Napi::CallbackInfo& info, size_t i, int64_t fallback) { return IsAbsent(info, i) ? fallback : IntArg(info, i); }
double NumberArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw ArgError(info, i, "a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
double NumberArgOr(const Napi::CallbackInfo& info, size_t i, double fallback) { return IsAbsent(info, i) ? fallback : NumberArg(info, i); }
bool BoolArgOr(const Napi::CallbackInfo& info, size_t i, bool fallback) { return IsAbsent(info, i) ? fallback : info[i].ToBoolean().Value(); }
std::string StringArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsString()) throw ArgError(info, i, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

torch::ScalarType DtypeFromName(const std::string& name) {
  if (name == "float32") return torch::kFloat;
  if (name == "float64") return torch::kDouble;
  if (name == "float16") return torch::kHalf;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "int64") return torch::kLong;
  if (name == "int32") return torch::kInt;
  if (name == "uint8") return torch::kByte;
  if (name == "bool") return torch::kBool;
  throw std::invalid_argument("unknown dtype '" + name + "' (float32, float64, float16, bfloat16, int64, int32, uint8, bool)");
}

std::string DtypeName(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return "float32";
    case torch::kDouble: return "float64";
    case torch::kHalf: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kLong: return "int64";
    case torch::kInt: return "int32";
    case torch::kByte: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(type);
  }
}

torch::Device DeviceFromName(const std::string& name) {
  if (name == "cuda" && !torch::cuda::is_available()) throw std::invalid_argument("device 'cuda' requested but this libtorch has no usable CUDA device");
  return torch::Device(name);
}

}  // namespace pulse
