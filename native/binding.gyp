{
  "targets": [
    {
      "target_name": "pulse_torch",
      "sources": ["tensor.cc", "ops.cc", "optim.cc", "addon.cc"],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node ../scripts/libtorch-config.mjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node ../scripts/libtorch-config.mjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["<!@(node ../scripts/libtorch-config.mjs ldflags)"],
      "libraries": ["<!@(node ../scripts/libtorch-config.mjs libs)"]
    }
  ]
}
