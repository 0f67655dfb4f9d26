import { Command } from '@commander-js/extra-typings';

export function setupCommand() {
  return new Command('setup')
    .description('Find libtorch ($LIBTORCH, the torch package of $PULSE_PYTHON or python3, a system libtorch), build the addon against it where pulse can write (the package folder, else the cache), and print what it found. Fast when nothing changed; an addon built for the same libtorch by another install is copied from the cache.')
    .option('--check', 'only report: exit status 0 when pulse is ready, 1 when setup has something to do')
    .action(async (opts) => {
      const { setup } = await import('../setup/setup.ts');
      const { availableParallelism } = await import('node:os');
      const report = await setup({ check: opts.check ?? false, log: (line) => process.stderr.write(`[setup] ${line}\n`) });
      const { libtorch, addon, runtime } = report;
      console.log(`libtorch  ${libtorch.version} (${libtorch.cuda ? 'CUDA' : 'CPU'} build), ${libtorch.source}`);
      console.log(`          lib ${libtorch.lib}, C++11 ABI ${libtorch.abi}`);
      console.log(`addon     ${addon.path} (${addon.state}${addon.where === 'cache' ? '; the package folder is read-only' : ''})`);
      if (runtime) {
        console.log(`loads     libtorch ${runtime.version}, CUDA ${runtime.cuda ? 'available' : 'not available'}`);
        console.log(`BLAS      ${runtime.blas}`);
        console.log(`threads   ${availableParallelism()} (all cores: pulse's default, --threads to change; libtorch's own default here: ${runtime.threads})`);
        console.log('ready');
        return;
      }
      if (report.loadError) console.log(`loads     no: ${report.loadError}`);
      console.log(opts.check ? 'not ready: run `npx pulse setup`' : 'not ready');
      process.exitCode = 1;
    });
}
