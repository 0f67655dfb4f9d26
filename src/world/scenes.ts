import { createHash } from 'node:crypto';
import { IMAGE_SIZE } from './faces.ts';
import { LETTERS, type Letter } from '../text/multiple-choice.ts';
import { shuffled } from '../random.ts';

/**
 * The general-capability benchmark in MMBench's spirit: synthetic scenes of shapes and
 * single-answer A-D questions in five perception categories.
 */
export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;
export const COLORS = ['red', 'green', 'blue', 'yellow', 'white', 'purple'] as const;
export const SIZES = ['tiny', 'small', 'medium', 'large'] as const;
export const COUNTS = ['one', 'two', 'three', 'four'] as const;
export const POSITIONS = ['top left', 'top right', 'bottom left', 'bottom right'] as const;
export const CATEGORIES = ['color', 'shape', 'count', 'position', 'size'] as const;
export type SceneCategory = (typeof CATEGORIES)[number];

const RGB: Record<(typeof COLORS)[number], [number, number, number]> = {
  red: [230, 40, 40], green: [40, 200, 60], blue: [50, 90, 240], yellow: [240, 220, 40], white: [240, 240, 240], purple: [160, 60, 200],
};
const RADIUS = [2, 3, 5, 7];

export interface SceneItem {
  category: SceneCategory;
  image: Uint8Array;
  question: string;
  options: [string, string, string, string];
  answer: Letter;
}

interface Shape { kind: (typeof SHAPES)[number]; color: (typeof COLORS)[number]; x: number; y: number; r: number }

function draw(shapes: Shape[], random: () => number): Uint8Array {
  const S = IMAGE_SIZE;
  const img = new Uint8Array(S * S * 3);
  for (let i = 0; i < img.length; i++) img[i] = 20 + Math.floor(random() * 16);
  for (const s of shapes) {
    for (let y = Math.max(0, s.y - s.r); y <= Math.min(S - 1, s.y + s.r); y++) {
      for (let x = Math.max(0, s.x - s.r); x <= Math.min(S - 1, s.x + s.r); x++) {
        const dx = x - s.x;
        const dy = y - s.y;
        const inside = s.kind === 'circle' ? dx * dx + dy * dy <= s.r * s.r + 0.5
          : s.kind === 'square' ? Math.abs(dx) <= s.r * 0.8 && Math.abs(dy) <= s.r * 0.8
          : s.kind === 'triangle' ? dy >= -s.r && Math.abs(dx) <= (dy + s.r) / 2
          : Math.abs(dx) <= Math.max(1, s.r / 3) || Math.abs(dy) <= Math.max(1, s.r / 3);
        if (inside) img.set(RGB[s.color], (y * S + x) * 3);
      }
    }
  }
  return img;
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;

function layout(correct: string, pool: readonly string[], random: () => number): { options: [string, string, string, string]; answer: Letter } {
  const others = shuffled(pool.filter((v) => v !== correct), random).slice(0, 3);
  const at = Math.floor(random() * 4);
  others.splice(at, 0, correct);
  return { options: others as [string, string, string, string], answer: LETTERS[at]! };
}

/** One scene question of the given category. */
export function sceneItem(category: SceneCategory, random: () => number): SceneItem {
  const quadrant = Math.floor(random() * 4);
  const centre = (q: number, r: number) => ({ x: (q % 2 === 0 ? 8 : 24) + Math.floor(random() * 3) - 1, y: (q < 2 ? 8 : 24) + Math.floor(random() * 3) - 1, r });
  const one = (over: Partial<Shape> = {}): Shape => ({ kind: pick(SHAPES, random), color: pick(COLORS, random), ...centre(quadrant, RADIUS[1 + Math.floor(random() * 3)]!), ...over });
  let shapes: Shape[];
  let question: string;
  let correct: string;
  let pool: readonly string[];
  switch (category) {
    case 'color': { const s = one(); shapes = [s]; question = 'What color is the shape?'; correct = s.color; pool = COLORS; break; }
    case 'shape': { const s = one(); shapes = [s]; question = 'What shape is shown?'; correct = s.kind; pool = SHAPES; break; }
    case 'size': {
      const size = Math.floor(random() * 4);
      const s = one({ r: RADIUS[size]!, x: 16 + Math.floor(random() * 5) - 2, y: 16 + Math.floor(random() * 5) - 2 });
      shapes = [s]; question = 'How big is the shape?'; correct = SIZES[size]!; pool = SIZES; break;
    }
    case 'position': { const s = one(); shapes = [s]; question = 'Where is the shape?'; correct = POSITIONS[quadrant]!; pool = POSITIONS; break; }
    case 'count': {
      const n = 1 + Math.floor(random() * 4);
      const cells = shuffled([0, 1, 2, 3], random).slice(0, n);
      shapes = cells.map((q) => ({ kind: pick(SHAPES, random), color: pick(COLORS, random), ...centre(q, RADIUS[1 + Math.floor(random() * 3)]!) }));
      question = 'How many shapes are there?'; correct = COUNTS[n - 1]!; pool = COUNTS; break;
    }
  }
  return { category, image: draw(shapes, random), question, ...layout(correct, pool, random) };
}

export function sceneKey(item: Pick<SceneItem, 'image' | 'question'>): string {
  return createHash('sha1').update(item.image).update(item.question).digest('hex');
}

/** `count` benchmark items, categories in turn. */
export function sceneBenchmark(count: number, random: () => number): SceneItem[] {
  return Array.from({ length: count }, (_, i) => sceneItem(CATEGORIES[i % CATEGORIES.length]!, random));
}

/** An endless training stream of scene items that never repeats a benchmark item. */
export function sceneStream(benchmark: readonly SceneItem[], random: () => number): () => SceneItem {
  const held = new Set(benchmark.map(sceneKey));
  return () => {
    for (;;) {
      const item = sceneItem(pick(CATEGORIES, random), random);
      if (!held.has(sceneKey(item))) return item;
    }
  };
}
