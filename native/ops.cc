// Tensor operations exported to TypeScript. Each is a thin call into ATen: the kernels and the
// autograd graph are libtorch's own, exactly those PyTorch runs.
#include "common.h"
#include <torch/version.h>

namespace pulse {
namespace {

using Info = const Napi::CallbackInfo&;
#define OP(name) Napi::Value name(Info info)
#define T(i) TensorArg(info, i)

torch::TensorOptions OptionsArg(Info info, size_t dtype_i, size_t device_i) {
  auto options = torch::TensorOptions().dtype(IsAbsent(info, dtype_i) ? torch::kFloat : DtypeFromName(StringArg(info, dtype_i)));
  if (!IsAbsent(info, device_i)) options = options.device(DeviceFromName(StringArg(info, device_i)));
  return options;
}

// --- creation ---
// fromBytes(bytes: Uint8Array, dtype, shape, device?): copies the bytes into a new tensor.
OP(FromBytes) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "argument 0 must be a typed array");
  auto array = info[0].As<Napi::TypedArray>();
  auto dtype = DtypeFromName(StringArg(info, 1));
  auto shape = IntListArg(info, 2);
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) throw Napi::RangeError::New(info.Env(), "shape has a negative dimension");
    numel *= d;
  }
  const size_t want = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (array.ByteLength() != want) {
    throw Napi::RangeError::New(info.Env(), "data has " + std::to_string(array.ByteLength()) + " bytes but shape and dtype need " + std::to_string(want));
  }
  const uint8_t* data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  if (want) std::memcpy(t.data_ptr(), data, want);
  if (!IsAbsent(info, 3)) t = t.to(DeviceFromName(StringArg(info, 3)));
  return Out(info, t);
}
OP(Zeros) { return Out(info, torch::zeros(IntListArg(info, 0), OptionsArg(info, 1, 2))); }
OP(Ones) { return Out(info, torch::ones(IntListArg(info, 0), OptionsArg(info, 1, 2))); }
OP(Full) { return Out(info, torch::full(IntListArg(info, 0), NumberArg(info, 1), OptionsArg(info, 2, 3))); }
OP(Randn) { return Out(info, torch::randn(IntListArg(info, 0), OptionsArg(info, 1, 2))); }
OP(Rand) { return Out(info, torch::rand(IntListArg(info, 0), OptionsArg(info, 1, 2))); }
OP(Randint) { return Out(info, torch::randint(IntArg(info, 0), IntArg(info, 1), IntListArg(info, 2), OptionsArg(info, 3, 4).dtype(torch::kLong))); }
OP(Randperm) { return Out(info, torch::randperm(IntArg(info, 0), torch::TensorOptions().dtype(torch::kLong))); }
OP(Arange) { return Out(info, torch::arange(NumberArg(info, 0), NumberArg(info, 1), NumberArgOr(info, 2, 1), OptionsArg(info, 3, 4))); }
OP(ZerosLike) { return Out(info, torch::zeros_like(T(0))); }
OP(OnesLike) { return Out(info, torch::ones_like(T(0))); }

// --- conversion and copies ---
OP(To) {
  const auto& t = T(0);
  torch::Tensor out = t;
  if (!IsAbsent(info, 1)) out = out.to(DtypeFromName(StringArg(info, 1)));
  if (!IsAbsent(info, 2)) out = out.to(DeviceFromName(StringArg(info, 2)));
  return Out(info, out);
}
OP(Detach) { return Out(info, T(0).detach()); }
OP(Clone) { return Out(info, T(0).clone()); }
OP(Contiguous) { return Out(info, T(0).contiguous()); }
// In-place updates of leaf parameters (snapshot restore, LoRA merge); callers run them under noGrad.
OP(Copy_) { T(0).copy_(T(1)); return info.Env().Undefined(); }
OP(Add_) { T(0).add_(T(1), NumberArgOr(info, 2, 1)); return info.Env().Undefined(); }
OP(Mul_) { T(0).mul_(NumberArg(info, 1)); return info.Env().Undefined(); }
OP(Zero_) { T(0).zero_(); return info.Env().Undefined(); }
OP(Normal_) { T(0).normal_(NumberArgOr(info, 1, 0), NumberArgOr(info, 2, 1)); return info.Env().Undefined(); }
OP(Uniform_) { T(0).uniform_(NumberArg(info, 1), NumberArg(info, 2)); return info.Env().Undefined(); }
OP(Fill_) { T(0).fill_(NumberArg(info, 1)); return info.Env().Undefined(); }

// --- elementwise arithmetic (broadcasting). Tensor ids are numbers in JavaScript, so a scalar
// operand has its own entry point (addScalar, ...) rather than a type test.
OP(Add) { return Out(info, torch::add(T(0), T(1), NumberArgOr(info, 2, 1))); }
OP(Sub) { return Out(info, torch::sub(T(0), T(1), NumberArgOr(info, 2, 1))); }
OP(Mul) { return Out(info, torch::mul(T(0), T(1))); }
OP(Div) { return Out(info, torch::div(T(0), T(1))); }
OP(Pow) { return Out(info, torch::pow(T(0), T(1))); }
OP(Maximum) { return Out(info, torch::maximum(T(0), T(1))); }
OP(Minimum) { return Out(info, torch::minimum(T(0), T(1))); }
#define S(i) c10::Scalar(NumberArg(info, i))
OP(AddScalar) { return Out(info, torch::add(T(0), S(1), NumberArgOr(info, 2, 1))); }
OP(SubScalar) { return Out(info, torch::sub(T(0), S(1), NumberArgOr(info, 2, 1))); }
OP(MulScalar) { return Out(info, torch::mul(T(0), S(1))); }
OP(DivScalar) { return Out(info, torch::div(T(0), S(1))); }
OP(PowScalar) { return Out(info, torch::pow(T(0), S(1))); }
// base ** t for a scalar base (RoPE's inverse frequencies are computed this way in transformers)
OP(ScalarPow) { return Out(info, torch::pow(S(0), T(1))); }
// maximum/minimum have no scalar overload in ATen; clamp is the same function of one argument.
OP(MaximumScalar) { return Out(info, torch::clamp_min(T(0), S(1))); }
OP(MinimumScalar) { return Out(info, torch::clamp_max(T(0), S(1))); }
OP(Neg) { return Out(info, torch::neg(T(0))); }
OP(Exp) { return Out(info, torch::exp(T(0))); }
OP(Log) { return Out(info, torch::log(T(0))); }
OP(Sqrt) { return Out(info, torch::sqrt(T(0))); }
OP(Rsqrt) { return Out(info, torch::rsqrt(T(0))); }
OP(Abs) { return Out(info, torch::abs(T(0))); }
OP(Sign) { return Out(info, torch::sign(T(0))); }
OP(Clamp) {
  c10::optional<c10::Scalar> lo, hi;
  if (!IsAbsent(info, 1)) lo = NumberArg(info, 1);
  if (!IsAbsent(info, 2)) hi = NumberArg(info, 2);
  return Out(info, torch::clamp(T(0), lo, hi));
}
OP(Relu) { return Out(info, torch::relu(T(0))); }
OP(Gelu) { return Out(info, at::gelu(T(0), BoolArgOr(info, 1, false) ? "tanh" : "none")); }
OP(Tanh) { return Out(info, torch::tanh(T(0))); }
OP(Sigmoid) { return Out(info, torch::sigmoid(T(0))); }
OP(LogSigmoid) { return Out(info, torch::log_sigmoid(T(0))); }
OP(Silu) { return Out(info, torch::silu(T(0))); }
OP(Cos) { return Out(info, torch::cos(T(0))); }
OP(Sin) { return Out(info, torch::sin(T(0))); }
OP(Softplus) { return Out(info, at::softplus(T(0), NumberArgOr(info, 1, 1), NumberArgOr(info, 2, 20))); }
OP(Softmax) { return Out(info, torch::softmax(T(0), IntArg(info, 1))); }
OP(LogSoftmax) { return Out(info, torch::log_softmax(T(0), IntArg(info, 1))); }
OP(Dropout) { return Out(info, torch::dropout(T(0), NumberArg(info, 1), BoolArgOr(info, 2, false))); }
OP(IsFinite) { return Out(info, torch::isfinite(T(0))); }

// --- comparisons and logic (bool results) ---
OP(Eq) { return Out(info, torch::eq(T(0), T(1))); }
OP(Ne) { return Out(info, torch::ne(T(0), T(1))); }
OP(Gt) { return Out(info, torch::gt(T(0), T(1))); }
OP(Ge) { return Out(info, torch::ge(T(0), T(1))); }
OP(Lt) { return Out(info, torch::lt(T(0), T(1))); }
OP(Le) { return Out(info, torch::le(T(0), T(1))); }
OP(EqScalar) { return Out(info, torch::eq(T(0), S(1))); }
OP(NeScalar) { return Out(info, torch::ne(T(0), S(1))); }
OP(GtScalar) { return Out(info, torch::gt(T(0), S(1))); }
OP(GeScalar) { return Out(info, torch::ge(T(0), S(1))); }
OP(LtScalar) { return Out(info, torch::lt(T(0), S(1))); }
OP(LeScalar) { return Out(info, torch::le(T(0), S(1))); }
#undef S
OP(LogicalAnd) { return Out(info, torch::logical_and(T(0), T(1))); }
OP(LogicalOr) { return Out(info, torch::logical_or(T(0), T(1))); }
OP(LogicalNot) { return Out(info, torch::logical_not(T(0))); }
OP(Where) { return Out(info, torch::where(T(0), T(1), T(2))); }
OP(MaskedFill) { return Out(info, T(0).masked_fill(T(1), NumberArg(info, 2))); }
OP(Triu) { return Out(info, torch::triu(T(0), IntArgOr(info, 1, 0))); }
OP(Tril) { return Out(info, torch::tril(T(0), IntArgOr(info, 1, 0))); }

// --- reductions; dims = [] reduces over everything ---
OP(Sum) {
  auto dims = IsAbsent(info, 1) ? std::vector<int64_t>{} : IntListArg(info, 1);
  return Out(info, dims.empty() ? torch::sum(T(0)) : torch::sum(T(0), dims, BoolArgOr(info, 2, false)));
}
OP(Mean) {
  auto dims = IsAbsent(info, 1) ? std::vector<int64_t>{} : IntListArg(info, 1);
  return Out(info, dims.empty() ? torch::mean(T(0)) : torch::mean(T(0), dims, BoolArgOr(info, 2, false)));
}
OP(Max) {
  if (IsAbsent(info, 1)) return Out(info, torch::max(T(0)));
  return Out(info, std::get<0>(torch::max(T(0), IntArg(info, 1), BoolArgOr(info, 2, false))));
}
OP(Min) {
  if (IsAbsent(info, 1)) return Out(info, torch::min(T(0)));
  return Out(info, std::get<0>(torch::min(T(0), IntArg(info, 1), BoolArgOr(info, 2, false))));
}
OP(Argmax) {
  if (IsAbsent(info, 1)) return Out(info, torch::argmax(T(0)));
  return Out(info, torch::argmax(T(0), IntArg(info, 1), BoolArgOr(info, 2, false)));
}
OP(Logsumexp) { return Out(info, torch::logsumexp(T(0), IntListArg(info, 1), BoolArgOr(info, 2, false))); }
OP(Norm) { return Out(info, torch::norm(T(0))); }

// --- shape ---
OP(Reshape) { return Out(info, T(0).reshape(IntListArg(info, 1))); }
OP(View) { return Out(info, T(0).view(IntListArg(info, 1))); }
OP(Permute) { return Out(info, T(0).permute(IntListArg(info, 1))); }
OP(Transpose) { return Out(info, T(0).transpose(IntArg(info, 1), IntArg(info, 2))); }
OP(Squeeze) { return IsAbsent(info, 1) ? Out(info, T(0).squeeze()) : Out(info, T(0).squeeze(IntArg(info, 1))); }
OP(Unsqueeze) { return Out(info, T(0).unsqueeze(IntArg(info, 1))); }
OP(Expand) { return Out(info, T(0).expand(IntListArg(info, 1))); }
OP(Repeat) { return Out(info, T(0).repeat(IntListArg(info, 1))); }
OP(Flatten) { return Out(info, T(0).flatten(IntArgOr(info, 1, 0), IntArgOr(info, 2, -1))); }
OP(Narrow) { return Out(info, T(0).narrow(IntArg(info, 1), IntArg(info, 2), IntArg(info, 3))); }
OP(Cat) { return Out(info, torch::cat(TensorListArg(info, 0), IntArgOr(info, 1, 0))); }
OP(Stack) { return Out(info, torch::stack(TensorListArg(info, 0), IntArgOr(info, 1, 0))); }
OP(IndexSelect) { return Out(info, torch::index_select(T(0), IntArg(info, 1), T(2))); }
OP(Gather) { return Out(info, torch::gather(T(0), IntArg(info, 1), T(2))); }

// --- linear algebra and layers ---
OP(Matmul) { return Out(info, torch::matmul(T(0), T(1))); }
OP(Linear) { return Out(info, IsAbsent(info, 2) ? torch::linear(T(0), T(1)) : torch::linear(T(0), T(1), T(2))); }
OP(Embedding) { return Out(info, torch::embedding(T(0), T(1))); }
OP(LayerNorm) {
  c10::optional<torch::Tensor> w, b;
  if (!IsAbsent(info, 2)) w = T(2);
  if (!IsAbsent(info, 3)) b = T(3);
  return Out(info, torch::layer_norm(T(0), IntListArg(info, 1), w, b, NumberArgOr(info, 4, 1e-5)));
}
OP(Conv2d) {
  c10::optional<torch::Tensor> b;
  if (!IsAbsent(info, 2)) b = T(2);
  return Out(info, torch::conv2d(T(0), T(1), b, IntArgOr(info, 3, 1), IntArgOr(info, 4, 0)));
}
OP(MaxPool2d) { return Out(info, torch::max_pool2d(T(0), IntArg(info, 1), IntArgOr(info, 2, IntArg(info, 1)))); }
OP(AvgPool2d) { return Out(info, torch::avg_pool2d(T(0), IntArg(info, 1), IntArgOr(info, 2, IntArg(info, 1)))); }

// torch.finfo(dtype).min: what transformers fills masked scores with (a row masked whole stays finite).
[[maybe_unused]] double LowestOf(c10::ScalarType type) {
  if (type == torch::kHalf) return -65504.0;
  if (type == torch::kBFloat16) return -3.3895313892515355e38;
  if (type == torch::kDouble) return std::numeric_limits<double>::lowest();
  return std::numeric_limits<float>::lowest();
}

// attention(q, k, v, allowed?, scale, causal): softmax(q kᵀ · scale, masked where `allowed` is
// false, or above the diagonal when `causal`) v, the softmax in float32 whatever the inputs'
// dtype. libtorch >= 2.1 runs its fused scaled_dot_product_attention (flash / memory-efficient
// kernels on CPU and CUDA; a causal mask without padding picks the fastest); older ones the
// same computation op by op, as transformers' eager attention does.
OP(Attention) {
  const auto& q = T(0);
  const auto& k = T(1);
  const auto& v = T(2);
  const double scale = NumberArg(info, 4);
  const bool causal = BoolArgOr(info, 5, false);
  c10::optional<torch::Tensor> allowed;
  if (!IsAbsent(info, 3)) allowed = T(3);
  if (allowed && causal) throw std::invalid_argument("attention: give a mask or causal, not both");
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  return Out(info, at::scaled_dot_product_attention(q, k, v, allowed, 0.0, causal, scale));
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  if (causal) allowed = torch::ones({q.size(-2), k.size(-2)}, q.options().dtype(torch::kBool)).tril();
  if (allowed) scores = scores.masked_fill(allowed->logical_not(), LowestOf(scores.scalar_type()));
  return Out(info, torch::matmul(torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type()), v));
#endif
}

// --- losses ---
int64_t ReductionArg(Info info, size_t i) {
  if (IsAbsent(info, i)) return at::Reduction::Mean;
  auto r = StringArg(info, i);
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throw std::invalid_argument("unknown reduction '" + r + "' (mean, sum, none)");
}
// crossEntropy(logits [N,C], targets [N] int64, ignoreIndex = -100, reduction = 'mean')
OP(CrossEntropy) { return Out(info, at::cross_entropy_loss(T(0), T(1), {}, ReductionArg(info, 3), IntArgOr(info, 2, -100), 0.0)); }
// klDiv(input = log q, target = log p if logTarget else p): sum p·(log p - log q), as torch.nn.functional.kl_div
OP(KlDiv) { return Out(info, at::kl_div(T(0), T(1), ReductionArg(info, 2), BoolArgOr(info, 3, false))); }

#undef OP
#undef T
}  // namespace

void InitOps(Napi::Env env, Napi::Object e) {
#define X(name, fn) Export<fn>(env, e, name)
  X("fromBytes", FromBytes); X("zeros", Zeros); X("ones", Ones); X("full", Full); X("randn", Randn); X("rand", Rand);
  X("randint", Randint); X("randperm", Randperm); X("arange", Arange); X("zerosLike", ZerosLike); X("onesLike", OnesLike);
  X("to", To); X("detach", Detach); X("clone", Clone); X("contiguous", Contiguous);
  X("copy_", Copy_); X("add_", Add_); X("mul_", Mul_); X("zero_", Zero_); X("normal_", Normal_); X("uniform_", Uniform_); X("fill_", Fill_);
  X("add", Add); X("sub", Sub); X("mul", Mul); X("div", Div); X("pow", Pow); X("maximum", Maximum); X("minimum", Minimum);
  X("addScalar", AddScalar); X("subScalar", SubScalar); X("mulScalar", MulScalar); X("divScalar", DivScalar); X("powScalar", PowScalar); X("scalarPow", ScalarPow);
  X("maximumScalar", MaximumScalar); X("minimumScalar", MinimumScalar);
  X("neg", Neg); X("exp", Exp); X("log", Log); X("sqrt", Sqrt); X("rsqrt", Rsqrt); X("abs", Abs); X("sign", Sign); X("clamp", Clamp);
  X("relu", Relu); X("gelu", Gelu); X("tanh", Tanh); X("sigmoid", Sigmoid); X("logSigmoid", LogSigmoid); X("silu", Silu); X("cos", Cos); X("sin", Sin); X("softplus", Softplus);
  X("softmax", Softmax); X("logSoftmax", LogSoftmax); X("dropout", Dropout); X("isFinite", IsFinite);
  X("eq", Eq); X("ne", Ne); X("gt", Gt); X("ge", Ge); X("lt", Lt); X("le", Le);
  X("eqScalar", EqScalar); X("neScalar", NeScalar); X("gtScalar", GtScalar); X("geScalar", GeScalar); X("ltScalar", LtScalar); X("leScalar", LeScalar);
  X("logicalAnd", LogicalAnd); X("logicalOr", LogicalOr); X("logicalNot", LogicalNot); X("where", Where); X("maskedFill", MaskedFill);
  X("triu", Triu); X("tril", Tril);
  X("sum", Sum); X("mean", Mean); X("max", Max); X("min", Min); X("argmax", Argmax); X("logsumexp", Logsumexp); X("norm", Norm);
  X("reshape", Reshape); X("view", View); X("permute", Permute); X("transpose", Transpose); X("squeeze", Squeeze); X("unsqueeze", Unsqueeze);
  X("expand", Expand); X("repeat", Repeat); X("flatten", Flatten); X("narrow", Narrow); X("cat", Cat); X("stack", Stack);
  X("indexSelect", IndexSelect); X("gather", Gather);
  X("matmul", Matmul); X("attention", Attention); X("linear", Linear); X("embedding", Embedding); X("layerNorm", LayerNorm); X("conv2d", Conv2d);
  X("maxPool2d", MaxPool2d); X("avgPool2d", AvgPool2d);
  X("crossEntropy", CrossEntropy); X("klDiv", KlDiv);
#undef X
}

}  // namespace pulse
