// Synonym lists per class for TaI-DPT's labels from text (caption-labels.ts). Written for this repository
// by reading WordNet 3.0's synsets and hyponyms of each class's sense (data/lexicon's choice of sense);
// words whose other senses dominate WordNet's glosses are left out on purpose: "plane" (the geometric
// plane), "jet" (a stream of liquid), "vessel" (blood vessel), "doe" (any female deer, rabbit, hare),
// "canine" (the tooth), "liner" (lining), "tanker" (also a ship), "van" (also the vanguard).
import type { ClassSynonyms } from './caption-labels.ts';

export const CIFAR10_SYNONYMS: ClassSynonyms[] = [
  { name: 'airplane', synonyms: ['aeroplane', 'aircraft', 'airliner', 'jetliner', 'jet plane', 'jet aircraft', 'warplane', 'seaplane', 'biplane', 'monoplane', 'airship'] },
  { name: 'automobile', synonyms: ['car', 'auto', 'motorcar', 'sedan', 'limousine', 'taxi', 'taxicab', 'cab', 'coupe', 'jeep', 'sports car', 'racing car', 'race car', 'convertible car'] },
  { name: 'bird', synonyms: ['songbird', 'sparrow', 'eagle', 'hawk', 'owl', 'pigeon', 'dove', 'parrot', 'finch', 'crow', 'ostrich', 'emu', 'falcon', 'robin', 'gull', 'seabird', 'waterbird', 'nestling', 'fledgling'] },
  { name: 'cat', synonyms: ['kitten', 'kitty', 'tomcat', 'pussycat', 'house cat', 'domestic cat', 'tabby cat'] },
  { name: 'deer', synonyms: ['stag', 'fawn', 'elk', 'reindeer', 'moose', 'caribou', 'roe deer', 'red deer', 'wapiti'] },
  { name: 'dog', synonyms: ['puppy', 'pup', 'hound', 'terrier', 'poodle', 'spaniel', 'retriever', 'collie', 'beagle', 'bulldog', 'dachshund', 'sheepdog', 'greyhound', 'mastiff', 'shepherd dog', 'watchdog', 'lapdog'] },
  { name: 'frog', synonyms: ['toad', 'tadpole', 'bullfrog', 'tree frog', 'treefrog', 'polliwog'] },
  { name: 'horse', synonyms: ['pony', 'stallion', 'mare', 'foal', 'colt', 'filly', 'steed', 'mustang', 'racehorse', 'draft horse', 'packhorse', 'warhorse'] },
  { name: 'ship', synonyms: ['boat', 'steamship', 'steamer', 'sailboat', 'yacht', 'ferry', 'ferryboat', 'freighter', 'warship', 'battleship', 'schooner', 'tugboat', 'steamboat', 'sailing ship', 'sailing vessel', 'cargo ship', 'galleon', 'frigate'] },
  { name: 'truck', synonyms: ['lorry', 'motortruck', 'pickup truck', 'fire engine', 'fire truck', 'dump truck', 'tow truck', 'trailer truck', 'tractor trailer', 'garbage truck'] },
];
