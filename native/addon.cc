// Module entry: process-wide engine settings (seed, threads, grad mode) and the live-tensor count.
#include "common.h"

namespace pulse {
namespace {

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  torch::manual_seed(static_cast<uint64_t>(IntArg(info, 0)));
  return info.Env().Undefined();
}
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  torch::set_num_threads(static_cast<int>(IntArg(info, 0)));
  return info.Env().Undefined();
}
Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), torch::get_num_threads()); }
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  torch::autograd::GradMode::set_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}
Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), torch::autograd::GradMode::is_enabled()); }
Napi::Value LiveTensors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(LiveTensorCount())); }
Napi::Value CudaAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), TORCH_VERSION); }
// Deterministic algorithms make repeated runs give identical numbers on the same machine.
Napi::Value SetDeterministic(const Napi::CallbackInfo& info) {
  at::globalContext().setDeterministicAlgorithms(info[0].ToBoolean().Value(), true);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Export<ManualSeed>(env, exports, "manualSeed");
  Export<SetNumThreads>(env, exports, "setNumThreads");
  Export<GetNumThreads>(env, exports, "getNumThreads");
  Export<SetGradEnabled>(env, exports, "setGradEnabled");
  Export<IsGradEnabled>(env, exports, "isGradEnabled");
  Export<LiveTensors>(env, exports, "liveTensors");
  Export<CudaAvailable>(env, exports, "cudaAvailable");
  Export<Version>(env, exports, "version");
  Export<SetDeterministic>(env, exports, "setDeterministic");
  InitTensorMethods(env, exports);
  InitOps(env, exports);
  InitOptim(env, exports);
  return exports;
}

}  // namespace
}  // namespace pulse

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return pulse::Init(env, exports); }
NODE_API_MODULE(pulse_torch, InitAddon)
