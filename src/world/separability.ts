import type { Person } from './people.ts';
import { personView, type World } from './world.ts';

/**
 * Identity separability: for each person, is the nearest neighbour (squared pixel distance) of
 * their view `a` among everyone's view `b` their own? Returns the share identified.
 */
export function nearestNeighbourIdentification(world: Pick<World, 'seed'>, people: readonly Person[], a = 1, b = 2): number {
  const gallery = people.map((p) => personView(world, p, b));
  let hits = 0;
  people.forEach((p, i) => {
    const probe = personView(world, p, a);
    let best = -1;
    let bestDistance = Infinity;
    gallery.forEach((g, j) => {
      let d = 0;
      for (let k = 0; k < g.length; k++) { const x = g[k]! - probe[k]!; d += x * x; }
      if (d < bestDistance) { bestDistance = d; best = j; }
    });
    if (best === i) hits++;
  });
  return hits / people.length;
}
