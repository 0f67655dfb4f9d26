{
  "variables": {
    # The package's root: this file's parent by default; `pulse setup` sets it (GYP_DEFINES=pulse_root=...) when it
    # configures a copy of this file in the cache because the package folder is read-only.
    "pulse_root%": ".."
  },
  "targets": [
    {
      "target_name": "pulse_torch",
      "sources": ["<(pulse_root)/native/tensor.cc", "<(pulse_root)/native/ops.cc", "<(pulse_root)/native/optim.cc", "<(pulse_root)/native/addon.cc"],
      "include_dirs": [
        "<!@(node <(pulse_root)/scripts/libtorch-config.mjs napi-include)",
        "<!@(node <(pulse_root)/scripts/libtorch-config.mjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node <(pulse_root)/scripts/libtorch-config.mjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["<!@(node <(pulse_root)/scripts/libtorch-config.mjs ldflags)"],
      "libraries": ["<!@(node <(pulse_root)/scripts/libtorch-config.mjs libs)"]
    }
  ]
}
