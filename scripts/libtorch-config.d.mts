/** What scripts/libtorch-config.mjs finds: the libtorch the addon is built against. */
export interface Libtorch {
  /** how it was found, e.g. "system libtorch (Debian libtorch-dev)" or "python torch 2.7.1 (python3)" */
  source: string;
  /** the include folder and torch's C++ API folder inside it */
  include: [string, string];
  lib: string;
  /** from torch/version.h, e.g. "2.7.1" ("unknown" when the header does not say) */
  version: string;
  cuda: boolean;
  /** _GLIBCXX_USE_CXX11_ABI: "1" or "0" */
  abi: string;
}
export function findLibtorch(): Libtorch | null;
export function napiInclude(): string;
