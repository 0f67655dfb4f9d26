import { FACE_FEATURES, FACE_FEATURE_NAMES, type FaceFeature } from './vocab.ts';

export const IMAGE_SIZE = 32;

/** One value index per facial feature: the look that identifies a person. */
export type Face = Record<FaceFeature, number>;

type Rgb = readonly [number, number, number];
const SKIN: Rgb[] = [[250, 226, 210], [236, 196, 160], [210, 160, 115], [180, 140, 90], [140, 95, 60], [85, 55, 35]];
const HAIR: Rgb[] = [[20, 20, 20], [110, 65, 30], [240, 210, 110], [200, 60, 20], [140, 140, 140], [245, 245, 245], [40, 90, 230], [40, 170, 60]];
const EYES: Rgb[] = [[90, 50, 20], [30, 110, 240], [20, 160, 60], [120, 130, 140], [230, 150, 20], [150, 40, 200]];
const BACKGROUND: Rgb[] = [[200, 40, 40], [240, 140, 30], [240, 220, 60], [60, 170, 70], [40, 160, 160], [50, 80, 200], [130, 60, 170], [240, 130, 190]];
const SHIRT: Rgb[] = [[180, 30, 30], [230, 120, 20], [220, 200, 30], [30, 140, 50], [20, 130, 130], [30, 60, 180], [110, 40, 150], [25, 25, 25]];
/** face half-width and half-height per shape */
const SHAPE: [number, number][] = [[9, 9], [8, 10], [7, 11], [10, 8]];

export function describeFace(face: Face): string {
  const word = (f: FaceFeature) => FACE_FEATURES[f][face[f]]!;
  return `skin ${word('skin')}, ${word('shape')} face, ${word('hair')} hair, ${word('style')} style, ${word('eyes')} eyes, glasses ${word('glasses')}, beard ${word('beard')}, ${word('background')} background, ${word('shirt')} shirt.`;
}

export function faceKey(face: Face): string {
  return FACE_FEATURE_NAMES.map((f) => face[f]).join('.');
}

/** Number of features in which two faces differ. */
export function faceDistance(a: Face, b: Face): number {
  return FACE_FEATURE_NAMES.filter((f) => a[f] !== b[f]).length;
}

export function randomFace(random: () => number): Face {
  const face = {} as Face;
  for (const f of FACE_FEATURE_NAMES) face[f] = Math.floor(random() * FACE_FEATURES[f].length);
  return face;
}

export interface ViewJitter {
  dx: number;
  dy: number;
  /** brightness factor */
  light: number;
  /** uniform noise amplitude, in 0..255 levels */
  noise: number;
}

export const CANONICAL_VIEW: ViewJitter = { dx: 0, dy: 0, light: 1, noise: 0 };

/**
 * A mild random view: ±10% light and a little noise; with `shift`, also moved by up to one pixel.
 * Dataset views (Test_Set) do not shift; training augmentation does, so the vision encoder does
 * not key on exact pixel positions.
 */
export function randomJitter(random: () => number, options: { shift: boolean } = { shift: false }): ViewJitter {
  const light = 0.9 + random() * 0.2;
  if (!options.shift) return { dx: 0, dy: 0, light, noise: 12 };
  return { dx: Math.floor(random() * 3) - 1, dy: Math.floor(random() * 3) - 1, light, noise: 12 };
}

/**
 * Draws a face as 32x32 RGB (HWC). Features are bold blocks of colour so that a small CNN can
 * read them: background, shirt, skin ellipse (shape), hair by style and colour, eyes, glasses,
 * beard or mustache.
 */
export function drawFace(face: Face, view: ViewJitter = CANONICAL_VIEW, random: () => number = () => 0.5): Uint8Array {
  const S = IMAGE_SIZE;
  const img = new Uint8Array(S * S * 3);
  const set = (x: number, y: number, c: Rgb) => {
    const px = x + view.dx;
    const py = y + view.dy;
    if (px < 0 || py < 0 || px >= S || py >= S) return;
    img.set(c, (py * S + px) * 3);
  };
  const bg = BACKGROUND[face.background]!;
  for (let i = 0; i < S * S; i++) img.set(bg, i * 3);
  const [rx, ry] = SHAPE[face.shape]!;
  const cx = 16;
  const cy = 14;
  const inFace = (x: number, y: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  // shirt: shoulders across the bottom rows
  for (let y = 26; y < S + 1; y++) for (let x = 4; x < 28; x++) set(x, y, SHIRT[face.shirt]!);
  const skin = SKIN[face.skin]!;
  const hair = HAIR[face.hair]!;
  // long hair falls behind the face, down to the shoulders
  if (face.style === 2) for (let y = cy - ry; y < 27; y++) for (let x = cx - rx - 2; x <= cx + rx + 2; x++) set(x, y, hair);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (inFace(x, y)) set(x, y, skin);
  // hair on top of the head, by style
  const top = cy - ry;
  if (face.style !== 0) {
    for (let y = top - 1; y < top + 4; y++) for (let x = cx - rx; x <= cx + rx; x++) if (y < top + 1 || inFace(x, y + 3) === false || y < top + 3) set(x, y, hair);
  }
  if (face.style === 3) for (let y = top - 5; y < top; y++) for (let x = cx - 3; x <= cx + 3; x++) set(x, y, hair); // bun
  if (face.style === 4) for (let k = -rx + 1; k < rx; k += 3) for (let y = top - 4; y < top; y++) set(cx + k, y, hair); // spikes
  // eyes, 2x2 each
  const eyeY = cy - 1;
  for (const ex of [cx - 4, cx + 3]) for (let y = eyeY; y < eyeY + 2; y++) for (let x = ex; x < ex + 2; x++) set(x, y, EYES[face.eyes]!);
  // glasses: frames around the eyes
  if (face.glasses > 0) {
    const frame: Rgb = face.glasses === 1 ? [20, 20, 20] : [220, 30, 30];
    for (const ex of [cx - 5, cx + 2]) {
      for (let x = ex; x < ex + 4; x++) { set(x, eyeY - 1, frame); set(x, eyeY + 2, frame); }
      for (let y = eyeY - 1; y < eyeY + 3; y++) { set(ex, y, frame); set(ex + 3, y, frame); }
    }
    for (let x = cx - 1; x < cx + 2; x++) set(x, eyeY, frame);
  }
  // mouth
  for (let x = cx - 2; x < cx + 3; x++) set(x, cy + 5, [150, 40, 50]);
  // beard covers the chin; mustache is a bar above the mouth
  if (face.beard === 1) for (let y = cy + 4; y <= cy + ry; y++) for (let x = cx - rx; x <= cx + rx; x++) if (inFace(x, y) && y !== cy + 5) set(x, y, hair);
  if (face.beard === 2) for (let x = cx - 3; x < cx + 4; x++) { set(x, cy + 3, hair); set(x, cy + 4, hair); }
  if (view.light !== 1 || view.noise > 0) {
    for (let i = 0; i < img.length; i++) {
      const v = img[i]! * view.light + (random() - 0.5) * 2 * view.noise;
      img[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return img;
}
