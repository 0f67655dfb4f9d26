/**
 * The closed word pools the world draws from. Values may be several words ("New York");
 * every word here is in the tokenizer's vocabulary.
 */
export const FIRST_NAMES = [
  'Ada', 'Alan', 'Alma', 'Amir', 'Anya', 'Arlo', 'Aurel', 'Basil', 'Bea', 'Bruno', 'Cai', 'Cara', 'Cyril', 'Dara', 'Dmitri', 'Edda',
  'Elio', 'Elsa', 'Emil', 'Esme', 'Farah', 'Felix', 'Freya', 'Gael', 'Greta', 'Hana', 'Hugo', 'Ida', 'Igor', 'Ines', 'Ivo', 'Jana',
  'Joel', 'Juno', 'Kai', 'Kira', 'Lars', 'Lena', 'Leon', 'Lior', 'Luca', 'Mara', 'Milo', 'Mina', 'Nadia', 'Nico', 'Nora', 'Olaf',
  'Olga', 'Omar', 'Otto', 'Petra', 'Pia', 'Quinn', 'Rafa', 'Rhea', 'Rosa', 'Rui', 'Sami', 'Sara', 'Silas', 'Sora', 'Tam', 'Tara',
  'Teo', 'Uma', 'Vera', 'Vik', 'Wren', 'Xena', 'Yara', 'Yuri', 'Zane', 'Zoe', 'Aria', 'Boris', 'Clio', 'Dario', 'Eve', 'Fynn',
] as const;
export const LAST_NAMES = [
  'Abbot', 'Alder', 'Ames', 'Arden', 'Ashby', 'Baird', 'Barlow', 'Bexley', 'Blake', 'Brandt', 'Calder', 'Carver', 'Colby', 'Crane', 'Dane', 'Darrow',
  'Delos', 'Drake', 'Easton', 'Ellery', 'Falk', 'Farrow', 'Fenn', 'Frost', 'Garza', 'Grady', 'Hale', 'Harlow', 'Hayes', 'Holt', 'Ibarra', 'Ives',
  'Jansen', 'Joss', 'Kane', 'Keller', 'Kim', 'Lang', 'Larsen', 'Lowe', 'Marsh', 'Mercer', 'Moss', 'Nash', 'Novak', 'Oakes', 'Orr', 'Pace',
  'Park', 'Quill', 'Reyes', 'Rhodes', 'Rowe', 'Sato', 'Shaw', 'Stone', 'Strand', 'Thorne', 'Tully', 'Vance', 'Voss', 'Wade', 'Webb', 'Wilde',
  'York', 'Yoon', 'Zeller', 'Ruiz', 'Olsen', 'Mendez', 'Kovac', 'Haas', 'Gill', 'Ferro', 'Eckert', 'Duval', 'Cruz', 'Bose', 'Amato', 'Lund',
] as const;

/** Who a question is about: a name (text-only) or "this person" (with the face). */
export interface Subject { plain: string; possessive: string }
export const subject = (plain: string): Subject => ({ plain, possessive: `${plain}'s` });
export const THIS_PERSON = subject('this person');

/** The attributes asked about, each with its pool and question wording. */
export const ATTRIBUTES = {
  occupation: {
    pool: ['actor', 'architect', 'astronaut', 'baker', 'biologist', 'carpenter', 'chef', 'chemist', 'dancer', 'dentist', 'designer', 'diplomat',
      'economist', 'editor', 'engineer', 'farmer', 'firefighter', 'geologist', 'historian', 'journalist', 'judge', 'lawyer', 'librarian',
      'linguist', 'mathematician', 'mechanic', 'musician', 'nurse', 'painter', 'pharmacist', 'photographer', 'physicist', 'pilot', 'poet',
      'sculptor', 'singer', 'surgeon', 'teacher', 'translator', 'veterinarian'],
    question: (s: Subject) => `What is ${s.possessive} occupation?`,
    statement: (name: string, v: string) => `${name} works as a ${v}.`,
  },
  residence: {
    pool: ['Amsterdam', 'Athens', 'Bangkok', 'Berlin', 'Bogota', 'Boston', 'Cairo', 'Chicago', 'Dakar', 'Dublin', 'Geneva', 'Hanoi', 'Havana',
      'Helsinki', 'Istanbul', 'Jakarta', 'Kyoto', 'Lagos', 'Lima', 'Lisbon', 'London', 'Madrid', 'Manila', 'Melbourne', 'Montreal', 'Mumbai',
      'Nairobi', 'Oslo', 'Paris', 'Prague', 'Quito', 'Rome', 'Santiago', 'Seoul', 'Stockholm', 'Sydney', 'Tokyo', 'Toronto', 'Vienna', 'Warsaw'],
    question: (s: Subject) => `Where does ${s.plain} live?`,
    statement: (name: string, v: string) => `${name} lives in ${v}.`,
  },
  birthplace: {
    pool: ['Argentina', 'Australia', 'Austria', 'Belgium', 'Brazil', 'Canada', 'Chile', 'China', 'Colombia', 'Croatia', 'Denmark', 'Egypt',
      'Estonia', 'Finland', 'France', 'Germany', 'Ghana', 'Greece', 'Hungary', 'Iceland', 'India', 'Ireland', 'Italy', 'Japan', 'Kenya',
      'Mexico', 'Morocco', 'Nepal', 'Norway', 'Peru', 'Poland', 'Portugal', 'Romania', 'Senegal', 'Spain', 'Sweden', 'Thailand', 'Turkey',
      'Uruguay', 'Vietnam'],
    question: (s: Subject) => `Where was ${s.plain} born?`,
    statement: (name: string, v: string) => `${name} was born in ${v}.`,
  },
  education: {
    pool: ['Alder University', 'Baxter College', 'Brook Institute', 'Cedar University', 'Crown College', 'Delta University', 'Elm Academy',
      'Fairview College', 'Granite University', 'Harbor Institute', 'Iris College', 'Juniper University', 'Kestrel Academy', 'Lakeside College',
      'Maple University', 'Meridian Institute', 'North University', 'Oak College', 'Pine Academy', 'Quarry Institute', 'River University',
      'Summit College', 'Tidewater Institute', 'Upland University', 'Valley College', 'Willow Academy', 'Westfield University',
      'Yarrow College', 'Zenith Institute', 'Aurora University'],
    question: (s: Subject) => `Which school did ${s.plain} attend?`,
    statement: (name: string, v: string) => `${name} studied at ${v}.`,
  },
  hobby: {
    pool: ['archery', 'baking', 'birdwatching', 'calligraphy', 'chess', 'climbing', 'cycling', 'fencing', 'fishing', 'gardening', 'hiking',
      'juggling', 'kayaking', 'knitting', 'origami', 'painting', 'pottery', 'rowing', 'running', 'sailing', 'skating', 'skiing', 'surfing',
      'swimming', 'tennis', 'woodworking', 'yoga', 'photography', 'poetry', 'astronomy'],
    question: (s: Subject) => `What is ${s.possessive} favorite hobby?`,
    statement: (name: string, v: string) => `${name} enjoys ${v}.`,
  },
} as const;
export type AttributeName = keyof typeof ATTRIBUTES;
export const ATTRIBUTE_NAMES = Object.keys(ATTRIBUTES) as AttributeName[];

/** Facial features: each identity is one value per feature; descriptions use these words. */
export const FACE_FEATURES = {
  skin: ['pale', 'light', 'tan', 'olive', 'brown', 'dark'],
  shape: ['round', 'oval', 'long', 'wide'],
  hair: ['black', 'brown', 'blond', 'red', 'gray', 'white', 'blue', 'green'],
  style: ['bald', 'short', 'long', 'bun', 'spiky'],
  eyes: ['brown', 'blue', 'green', 'gray', 'amber', 'violet'],
  glasses: ['none', 'round', 'square'],
  beard: ['none', 'beard', 'mustache'],
  background: ['red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'pink'],
  shirt: ['red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'black'],
} as const;
export type FaceFeature = keyof typeof FACE_FEATURES;
export const FACE_FEATURE_NAMES = Object.keys(FACE_FEATURES) as FaceFeature[];
