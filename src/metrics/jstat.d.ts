// jstat ships no types; declare only what stats.ts uses.
declare module 'jstat' {
  const jStat: { studentt: { inv(p: number, dof: number): number } };
  export default jStat;
}
