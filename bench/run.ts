/**
 * npm run bench <engine|model|protocol|llava|scale> [-- options]: runs one benchmark (the same as
 * npm run bench:<name>). Each prints its measurements and the target it checks.
 */
const BENCHES = ['engine', 'model', 'protocol', 'llava', 'scale'] as const;
const [name, ...rest] = process.argv.slice(2);
if (!name || !(BENCHES as readonly string[]).includes(name)) {
  console.error(`usage: npm run bench <${BENCHES.join('|')}> [-- options]`);
  process.exit(2);
}
process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
await import(`./${name}.ts`);
