import { generateWorld } from '../world/world.ts';
import type { ProtocolData } from './data.ts';
import { worldToProtocolData } from './world-data.ts';

/**
 * The protocol's data for a world seed. (The world is generated deterministically from the
 * seed; `dir` is where its files in the published formats live.)
 */
export async function loadProtocolData(world: { dir: string; seed: number }): Promise<ProtocolData> {
  return worldToProtocolData(generateWorld(world.seed));
}
