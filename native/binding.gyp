{
  "variables": {
    # scripts/ of the package (libtorch-config.mjs). `pulse setup` sets it (GYP_DEFINES=pulse_scripts=/abs/path) when
    # it builds a copy of this folder's sources in the cache because the package folder is read-only.
    "pulse_scripts%": "../scripts"
  },
  "targets": [
    {
      "target_name": "pulse_torch",
      "sources": ["tensor.cc", "ops.cc", "optim.cc", "addon.cc"],
      "include_dirs": [
        "<!@(node <(pulse_scripts)/libtorch-config.mjs napi-include)",
        "<!@(node <(pulse_scripts)/libtorch-config.mjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node <(pulse_scripts)/libtorch-config.mjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["<!@(node <(pulse_scripts)/libtorch-config.mjs ldflags)"],
      "libraries": ["<!@(node <(pulse_scripts)/libtorch-config.mjs libs)"]
    }
  ]
}
