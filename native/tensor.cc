#include "common.h"

namespace pulse {

std::atomic<int64_t> TensorHandle::live_count{0};
Napi::FunctionReference* tensor_constructor = nullptr;

namespace {
int64_t Bytes(const torch::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; }

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

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  if (released_) return;
  if (tensor_.defined()) live_count--;
  // Node runs N-API finalizers outside the GC pause, so giving the accounting back is allowed here.
  if (accounted_bytes_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_bytes_);
}

void TensorHandle::Release(Napi::Env env) {
  if (released_) return;
  released_ = true;
  if (tensor_.defined()) live_count--;
  tensor_ = torch::Tensor();
  if (accounted_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, -accounted_bytes_);
  accounted_bytes_ = 0;
}

const torch::Tensor& TensorHandle::tensor() const { return tensor_; }

Napi::Object TensorHandle::Wrap(Napi::Env env, torch::Tensor tensor) {
  Napi::Object obj = tensor_constructor->New({});
  TensorHandle* self = Napi::ObjectWrap<TensorHandle>::Unwrap(obj);
  self->tensor_ = std::move(tensor);
  if (self->tensor_.defined()) {
    live_count++;
    // Tell V8 how much native memory hangs off this small JS object, so that tensors a caller
    // forgot to dispose still push the GC to run (the safety net). Only CPU memory counts.
    if (self->tensor_.device().is_cpu()) {
      self->accounted_bytes_ = Bytes(self->tensor_);
      if (self->accounted_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, self->accounted_bytes_);
    }
  }
  return obj;
}

bool TensorHandle::Is(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(tensor_constructor->Value());
}

TensorHandle* TensorHandle::Unwrap(const Napi::Value& value) {
  return Napi::ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
}

namespace {
// Handle methods are plain functions taking the handle first: ObjectWrap methods cannot go
// through Guard<>, and a flat function table is simpler to call from TypeScript anyway.
TensorHandle* Self(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !TensorHandle::Is(info[0])) throw Napi::TypeError::New(info.Env(), "argument 0 must be a tensor");
  TensorHandle* self = TensorHandle::Unwrap(info[0]);
  if (!self->tensor().defined()) throw Napi::Error::New(info.Env(), "tensor used after dispose()");
  return self;
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (TensorHandle::Is(info[0])) TensorHandle::Unwrap(info[0])->Release(info.Env());
  return info.Env().Undefined();
}
Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !TensorHandle::Unwrap(info[0])->tensor().defined());
}
Napi::Value Shape(const Napi::CallbackInfo& info) {
  const auto& t = Self(info)->tensor();
  auto out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
  return out;
}
Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), DtypeName(Self(info)->tensor().scalar_type())); }
Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Self(info)->tensor().device().str()); }
Napi::Value Numel(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(Self(info)->tensor().numel())); }
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Self(info)->tensor().requires_grad()); }
Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Self(info)->tensor().requires_grad_(info[1].ToBoolean().Value());
  return info.Env().Undefined();
}
Napi::Value Grad(const Napi::CallbackInfo& info) {
  const auto& g = Self(info)->tensor().grad();
  if (!g.defined()) return info.Env().Null();
  return Out(info, g);
}
Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  Self(info)->tensor().mutable_grad().reset();
  return info.Env().Undefined();
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const auto& t = Self(info)->tensor();
  if (IsAbsent(info, 1)) t.backward();
  else t.backward(TensorArg(info, 1));
  return info.Env().Undefined();
}
Napi::Value Item(const Napi::CallbackInfo& info) {
  const auto& t = Self(info)->tensor();
  if (t.numel() != 1) throw Napi::Error::New(info.Env(), "item() needs a tensor with one element, got " + std::to_string(t.numel()));
  return Napi::Number::New(info.Env(), t.item<double>());
}
Napi::Value ToArray(const Napi::CallbackInfo& info) { return ToJsArray(info.Env(), Self(info)->tensor()); }
Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  torch::Tensor t = Self(info)->tensor().detach().to(torch::kCPU).contiguous();
  const size_t n = static_cast<size_t>(t.numel() * t.element_size());
  auto out = Napi::Buffer<uint8_t>::Copy(info.Env(), static_cast<const uint8_t*>(t.data_ptr()), n);
  return out;
}
}  // namespace

Napi::Function TensorHandle::Define(Napi::Env env) {
  Napi::Function fn = DefineClass(env, "NativeTensor", {});
  tensor_constructor = new Napi::FunctionReference(Napi::Persistent(fn));
  return fn;
}

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
  if (info.Length() <= i || !TensorHandle::Is(info[i])) throw ArgError(info, i, "a tensor");
  const auto& t = TensorHandle::Unwrap(info[i])->tensor();
  if (!t.defined()) throw Napi::Error::New(info.Env(), "argument " + std::to_string(i) + ": tensor used after dispose()");
  return t;
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
  if (info.Length() <= i || !info[i].IsArray()) throw ArgError(info, i, "an array of tensors");
  auto arr = info[i].As<Napi::Array>();
  std::vector<torch::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!TensorHandle::Is(v)) throw ArgError(info, i, "an array of tensors");
    const auto& t = TensorHandle::Unwrap(v)->tensor();
    if (!t.defined()) throw Napi::Error::New(info.Env(), "argument " + std::to_string(i) + ": tensor used after dispose()");
    out.push_back(t);
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

torch::Tensor TensorOrScalarArg(const Napi::CallbackInfo& info, size_t i, const torch::Tensor& like) {
  if (info.Length() > i && info[i].IsNumber()) {
    return torch::scalar_tensor(info[i].As<Napi::Number>().DoubleValue(), torch::TensorOptions().dtype(like.scalar_type()).device(like.device()));
  }
  return TensorArg(info, i);
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
