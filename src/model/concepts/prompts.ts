/**
 * The default concept bank's vocabulary: geographic cues a person uses to place a photo, each written as
 * a CLIP prompt. Prompts describe what is visible ("a photo of …") because CLIP's text tower was trained
 * on captions; names are the short labels explanations show.
 */
export interface ConceptPrompt {
  /** Short unique label, e.g. "tropical rainforest". */
  name: string;
  /** The text embedded by CLIP. */
  prompt: string;
  category: ConceptCategory;
}

export type ConceptCategory =
  | 'climate'
  | 'terrain'
  | 'land cover'
  | 'vegetation'
  | 'architecture'
  | 'roads and signage'
  | 'water'
  | 'urban form'
  | 'custom';

/** [category, name, what the photo shows]; the prompt is "a photo of <what it shows>". */
const TABLE: readonly [ConceptCategory, string, string][] = [
  // climate and light
  ['climate', 'tropical climate', 'a hot humid tropical place'],
  ['climate', 'arid climate', 'a dry arid desert climate'],
  ['climate', 'semi-arid steppe', 'a semi-arid steppe with dry grass'],
  ['climate', 'mediterranean climate', 'a sunny mediterranean landscape'],
  ['climate', 'temperate climate', 'a mild temperate green landscape'],
  ['climate', 'continental climate', 'a continental landscape with cold winters'],
  ['climate', 'subarctic climate', 'a cold subarctic landscape'],
  ['climate', 'polar climate', 'a frozen polar landscape'],
  ['climate', 'monsoon rain', 'heavy monsoon rain on a street'],
  ['climate', 'snow cover', 'a landscape covered in snow'],
  ['climate', 'fog and mist', 'a foggy misty landscape'],
  ['climate', 'overcast sky', 'a grey overcast sky'],
  ['climate', 'harsh sunlight', 'harsh bright midday sunlight and hard shadows'],
  ['climate', 'high altitude', 'a high altitude place with thin air and bare peaks'],
  // terrain
  ['terrain', 'mountains', 'high rugged mountains'],
  ['terrain', 'alpine peaks', 'snowy alpine peaks'],
  ['terrain', 'rolling hills', 'green rolling hills'],
  ['terrain', 'flat plains', 'wide flat plains to the horizon'],
  ['terrain', 'plateau', 'a high flat plateau'],
  ['terrain', 'canyon', 'a deep rocky canyon'],
  ['terrain', 'valley', 'a river valley between hills'],
  ['terrain', 'volcano', 'a volcano and volcanic rock'],
  ['terrain', 'sand dunes', 'sand dunes in a desert'],
  ['terrain', 'rocky desert', 'a rocky stony desert'],
  ['terrain', 'red soil', 'red laterite soil'],
  ['terrain', 'limestone karst', 'limestone karst towers and cliffs'],
  ['terrain', 'glacier', 'a glacier and ice field'],
  ['terrain', 'coastal cliffs', 'steep coastal cliffs above the sea'],
  ['terrain', 'badlands', 'eroded badlands'],
  ['terrain', 'tundra', 'flat treeless tundra'],
  ['terrain', 'salt flat', 'a white salt flat'],
  // land cover
  ['land cover', 'farmland', 'farmland with crop fields'],
  ['land cover', 'rice paddies', 'flooded rice paddies'],
  ['land cover', 'terraced fields', 'terraced fields on a hillside'],
  ['land cover', 'vineyards', 'rows of grape vineyards'],
  ['land cover', 'wheat fields', 'golden wheat fields'],
  ['land cover', 'corn fields', 'tall corn fields'],
  ['land cover', 'tea plantation', 'a tea plantation on hills'],
  ['land cover', 'palm oil plantation', 'a palm oil plantation'],
  ['land cover', 'orchards', 'fruit tree orchards'],
  ['land cover', 'pasture', 'a pasture with grazing cattle'],
  ['land cover', 'sheep grazing', 'sheep grazing on open land'],
  ['land cover', 'grassland', 'open grassland'],
  ['land cover', 'savanna', 'an african savanna with scattered trees'],
  ['land cover', 'scrubland', 'dry scrubland with low bushes'],
  ['land cover', 'wetland', 'a marshy wetland'],
  ['land cover', 'bare rock', 'bare rock with no vegetation'],
  ['land cover', 'quarry or mine', 'an open pit mine or quarry'],
  // vegetation
  ['vegetation', 'tropical rainforest', 'a dense tropical rainforest'],
  ['vegetation', 'jungle', 'thick green jungle'],
  ['vegetation', 'palm trees', 'palm trees'],
  ['vegetation', 'coconut palms', 'coconut palms on a beach'],
  ['vegetation', 'conifer forest', 'a dark conifer forest of pine and spruce'],
  ['vegetation', 'birch forest', 'a birch forest'],
  ['vegetation', 'deciduous forest', 'a deciduous forest'],
  ['vegetation', 'autumn foliage', 'red and orange autumn foliage'],
  ['vegetation', 'eucalyptus trees', 'eucalyptus trees'],
  ['vegetation', 'cactus', 'cactus plants in a desert'],
  ['vegetation', 'bamboo', 'a bamboo grove'],
  ['vegetation', 'mangroves', 'mangrove trees in shallow water'],
  ['vegetation', 'olive trees', 'olive trees'],
  ['vegetation', 'cypress trees', 'tall thin cypress trees'],
  ['vegetation', 'baobab trees', 'baobab trees'],
  ['vegetation', 'acacia trees', 'flat topped acacia trees'],
  ['vegetation', 'lush green vegetation', 'lush green vegetation'],
  ['vegetation', 'dry brown grass', 'dry brown grass'],
  ['vegetation', 'moss and lichen', 'moss and lichen on rocks'],
  ['vegetation', 'flowering shrubs', 'bright flowering shrubs and bougainvillea'],
  // architecture
  ['architecture', 'gothic cathedral', 'a gothic cathedral'],
  ['architecture', 'orthodox church', 'an orthodox church with onion domes'],
  ['architecture', 'mosque', 'a mosque with minarets'],
  ['architecture', 'buddhist temple', 'a buddhist temple'],
  ['architecture', 'hindu temple', 'a hindu temple with carved towers'],
  ['architecture', 'pagoda', 'a multi-storey pagoda'],
  ['architecture', 'shinto shrine', 'a shinto shrine with a torii gate'],
  ['architecture', 'colonial architecture', 'colonial era buildings with arcades'],
  ['architecture', 'baroque architecture', 'ornate baroque buildings'],
  ['architecture', 'half-timbered houses', 'half-timbered houses'],
  ['architecture', 'whitewashed houses', 'whitewashed houses with blue doors'],
  ['architecture', 'adobe buildings', 'adobe mud brick buildings'],
  ['architecture', 'red brick buildings', 'red brick buildings'],
  ['architecture', 'terracotta roofs', 'red terracotta tiled roofs'],
  ['architecture', 'slate roofs', 'grey slate roofs'],
  ['architecture', 'thatched roofs', 'thatched roofs'],
  ['architecture', 'corrugated metal roofs', 'corrugated metal roofs'],
  ['architecture', 'wooden houses', 'painted wooden houses'],
  ['architecture', 'log cabins', 'log cabins'],
  ['architecture', 'stone houses', 'old stone houses'],
  ['architecture', 'soviet apartment blocks', 'soviet era concrete apartment blocks'],
  ['architecture', 'glass skyscrapers', 'glass skyscrapers'],
  ['architecture', 'suburban houses', 'suburban detached houses with lawns'],
  ['architecture', 'favela', 'a hillside favela of self-built houses'],
  ['architecture', 'stilt houses', 'houses built on stilts'],
  ['architecture', 'castle', 'a medieval castle'],
  ['architecture', 'ancient ruins', 'ancient stone ruins'],
  ['architecture', 'minimalist modern houses', 'minimalist modern concrete houses'],
  ['architecture', 'balconies with laundry', 'apartment balconies with hanging laundry'],
  ['architecture', 'shophouses', 'narrow asian shophouses'],
  // roads and signage
  ['roads and signage', 'left-hand traffic', 'cars driving on the left side of the road'],
  ['roads and signage', 'right-hand traffic', 'cars driving on the right side of the road'],
  ['roads and signage', 'yellow center line', 'a road with a yellow center line'],
  ['roads and signage', 'white center line', 'a road with a white dashed center line'],
  ['roads and signage', 'dirt road', 'an unpaved dirt road'],
  ['roads and signage', 'highway', 'a multi-lane highway'],
  ['roads and signage', 'cobblestone street', 'a cobblestone street'],
  ['roads and signage', 'roundabout', 'a roundabout'],
  ['roads and signage', 'latin script signs', 'street signs in latin script'],
  ['roads and signage', 'cyrillic signs', 'signs written in cyrillic'],
  ['roads and signage', 'arabic signs', 'signs written in arabic script'],
  ['roads and signage', 'chinese characters', 'signs with chinese characters'],
  ['roads and signage', 'japanese signs', 'signs written in japanese'],
  ['roads and signage', 'korean signs', 'signs written in korean hangul'],
  ['roads and signage', 'devanagari signs', 'signs written in devanagari script'],
  ['roads and signage', 'thai signs', 'signs written in thai script'],
  ['roads and signage', 'greek signs', 'signs written in greek'],
  ['roads and signage', 'hebrew signs', 'signs written in hebrew'],
  ['roads and signage', 'bollards', 'roadside bollards'],
  ['roads and signage', 'utility poles', 'wooden utility poles with overhead wires'],
  ['roads and signage', 'tuk-tuks', 'auto rickshaws and tuk-tuks'],
  ['roads and signage', 'motorbike traffic', 'dense motorbike traffic'],
  ['roads and signage', 'yellow taxis', 'yellow taxi cabs'],
  ['roads and signage', 'trams', 'a tram on city tracks'],
  ['roads and signage', 'pickup trucks', 'pickup trucks on a rural road'],
  ['roads and signage', 'guardrails', 'metal guardrails along a mountain road'],
  ['roads and signage', 'railway', 'railway tracks'],
  ['roads and signage', 'bicycle lanes', 'bicycle lanes and many bicycles'],
  // water
  ['water', 'ocean coast', 'an ocean coastline'],
  ['water', 'sandy beach', 'a sandy beach'],
  ['water', 'tropical beach', 'a tropical beach with turquoise water'],
  ['water', 'rocky shore', 'a rocky shore'],
  ['water', 'coral reef', 'a coral reef lagoon'],
  ['water', 'fjord', 'a fjord between steep mountains'],
  ['water', 'lake', 'a calm lake'],
  ['water', 'mountain lake', 'a mountain lake'],
  ['water', 'river', 'a wide river'],
  ['water', 'canal', 'a city canal with boats'],
  ['water', 'waterfall', 'a waterfall'],
  ['water', 'harbor', 'a harbor with fishing boats'],
  ['water', 'port with cranes', 'a container port with cranes'],
  ['water', 'frozen lake', 'a frozen lake'],
  ['water', 'island', 'a small island'],
  // urban form
  ['urban form', 'dense city center', 'a dense city center'],
  ['urban form', 'skyline', 'a city skyline'],
  ['urban form', 'grid street plan', 'a city with a straight grid street plan'],
  ['urban form', 'narrow winding alleys', 'narrow winding old town alleys'],
  ['urban form', 'street market', 'a busy open air street market'],
  ['urban form', 'small village', 'a small rural village'],
  ['urban form', 'isolated farmhouse', 'an isolated farmhouse'],
  ['urban form', 'suburban sprawl', 'suburban sprawl'],
  ['urban form', 'industrial area', 'an industrial area with factories'],
  ['urban form', 'informal settlement', 'an informal settlement'],
  ['urban form', 'town square', 'a historic town square'],
  ['urban form', 'parking lots', 'large parking lots and strip malls'],
  ['urban form', 'high-rise housing', 'rows of high-rise residential towers'],
  ['urban form', 'neon signs', 'a street full of neon signs at night'],
  ['urban form', 'wilderness', 'untouched wilderness with no buildings'],
];

export const DEFAULT_CONCEPT_PROMPTS: readonly ConceptPrompt[] = TABLE.map(([category, name, shows]) => ({
  category,
  name,
  prompt: `a photo of ${shows}`,
}));

/** Prompt objects for a user's own concept texts (the name is the text itself). */
export function customConceptPrompts(texts: readonly string[], category: ConceptCategory = 'custom'): ConceptPrompt[] {
  return texts.map((text) => ({ name: text, prompt: text.startsWith('a photo') ? text : `a photo of ${text}`, category }));
}
