// AdamW is libtorch's own (torch::optim::AdamW), so updates match PyTorch's bit for bit on the
// same machine; gradient clipping is torch::nn::utils::clip_grad_norm_.
#include "common.h"

namespace pulse {
namespace {

class AdamWHandle : public Napi::ObjectWrap<AdamWHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeAdamW", {
      InstanceMethod<&AdamWHandle::Step>("step"),
      InstanceMethod<&AdamWHandle::ZeroGrad>("zeroGrad"),
      InstanceMethod<&AdamWHandle::SetLr>("setLr"),
      InstanceMethod<&AdamWHandle::Dispose>("dispose"),
    });
  }
  // new NativeAdamW(params: NativeTensor[], lr, beta1, beta2, eps, weightDecay)
  explicit AdamWHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWHandle>(info) {
    try {
      auto params = TensorListArg(info, 0);
      auto options = torch::optim::AdamWOptions(NumberArg(info, 1))
                         .betas({NumberArg(info, 2), NumberArg(info, 3)})
                         .eps(NumberArg(info, 4))
                         .weight_decay(NumberArg(info, 5));
      optimizer_ = std::make_unique<torch::optim::AdamW>(params, options);
    } catch (const c10::Error& e) {
      throw Napi::Error::New(info.Env(), std::string("libtorch: ") + e.what_without_backtrace());
    }
  }

 private:
  torch::optim::AdamW& Live(const Napi::CallbackInfo& info) {
    if (!optimizer_) throw Napi::Error::New(info.Env(), "optimizer used after dispose()");
    return *optimizer_;
  }
  Napi::Value Step(const Napi::CallbackInfo& info) {
    try { Live(info).step(); } catch (const c10::Error& e) { throw Napi::Error::New(info.Env(), std::string("libtorch: ") + e.what_without_backtrace()); }
    return info.Env().Undefined();
  }
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    for (auto& p : Live(info).param_groups()[0].params()) p.mutable_grad().reset();
    return info.Env().Undefined();
  }
  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    for (auto& group : Live(info).param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(NumberArg(info, 0));
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    optimizer_.reset();
    return info.Env().Undefined();
  }
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

// clipGradNorm(params, maxNorm) -> the total norm before clipping
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  auto params = TensorListArg(info, 0);
  double norm = torch::nn::utils::clip_grad_norm_(params, NumberArg(info, 1));
  return Napi::Number::New(info.Env(), norm);
}

}  // namespace

void InitOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("AdamW", AdamWHandle::Define(env));
  Export<ClipGradNorm>(env, exports, "clipGradNorm");
}

}  // namespace pulse
