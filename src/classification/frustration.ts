// Call-specific signs of frustration the Reddit-trained model rarely saw ("third time I call", "been on hold",
// "you're not listening"), and the conversation so far: earlier angry turns, the agent failing, the caller repeating.

import type { Turn } from '../types.js';
import { normalize } from './wants-human.js';

interface Cue {
  re: RegExp;
  weight: number;
  name: string;
}

const CUES: Cue[] = [
  { re: /\b(?:(?:second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th)) time|(?:two|three|four|five|six|several|many|multiple|ten|\d+) times|again and again|over and over)\b/, weight: 1.2, name: 'repeated contact' },
  { re: /\b(?:already (?:told|said|gave|explained|answered|did)|how many times|keep (?:asking|saying|telling|repeating)|i (?:just )?said|i told you|like i said|as i said|i (?:clearly )?(?:asked|meant) (?:for )?\w+,? not)\b/, weight: 1.5, name: 'repeating themselves' },
  { re: /\b(?:wrong again|(?:got|get|getting) (?:it|that|this) wrong|still (?:wrong|not \w+|there|broken|nothing)|not again|yet again|again\?|keep getting|you keep (?:\w+ing|messing|screwing)\b|nobody (?:came|showed|called|turned up)|(?:didn'?t|did not) show up|nothing(?:'s| has) changed|(?:it|that) didn'?t (?:work|help|do anything))\b/, weight: 1.0, name: 'repeated failure' },
  { re: /\b(?:thanks for nothing|yeah,? right|oh,? great,? (?:another|now|just what)|just (?:great|perfect|wonderful|brilliant)|(?:very|really|so|super) helpful,? not|wow,? (?:very|really|so) helpful|great job,? (?:not|really)|what a (?:surprise|shock)|(?:that |it |which )?(?:would|'d|must) be nice\W*$|oh,? (?:wonderful|brilliant|fantastic)\W+(?:another|now|again|you))/, weight: 2.2, name: 'sarcasm' },
  { re: /\b(?:i'?(?:ll| will|m going to|m gonna) (?:just )?(?:hang up|cancel|leave|go elsewhere|take my business)|i'?m hanging up|or i'?(?:ll| will) (?:hang up|cancel)|(?:forget it|never mind),? i'?(?:ll| will)|take my business elsewhere)\b/, weight: 1.2, name: 'threatens to hang up or cancel' },
  { re: /\b(?:been on hold|on hold for|been waiting|still waiting|waiting (?:for )?(?:over |more than )?(?:an|one|two|three|\d+) (?:hours?|minutes?|days?|weeks?)|for (?:over )?an hour|for hours|for ages|forever|it'?s been (?:over |more than |nearly |almost )?(?:\w+ )?(?:days|weeks|months))\b/, weight: 1.5, name: 'waiting' },
  { re: /\b(?:not listening|you(?:'re| are) not (?:listening|helping|understanding)|you (?:don'?t|do not|never) (?:understand|listen|get it)|(?:doesn'?t|does not) understand|can'?t understand (?:you|me|anything)|not what i (?:said|asked)|that'?s not what i|are you (?:even |actually |really )?(?:listening|reading what i|hearing (?:me|what i))|did you (?:not|even) hear|didn'?t you hear|you'?re not hearing|how hard (?:is|can) (?:it|this|that))\b/, weight: 1.3, name: 'not understood' },
  { re: /\b(?:useless|pointless|hopeless|worthless|waste of (?:my )?time|ridiculous|unacceptable|absurd|outrageous|insane|a joke|joke of a|nonsense|rubbish|garbage|terrible service|worst service|horrible service)\b/, weight: 1.0, name: 'contempt' },
  { re: /\b(?:fed up|sick (?:and tired|of)|had enough|i give up|enough is enough|fed up with|done with (?:this|you))\b/, weight: 1.3, name: 'fed up' },
  { re: /\bi(?:'m| am)\s+(?:so |really |very |extremely |getting |beyond )?(?:angry|furious|frustrated|annoyed|upset|pissed|mad|livid|irritated|disappointed)\b(?! (?:at|with) myself)/, weight: 1.3, name: 'says they are upset' },
  { re: /\b(?:stupid|dumb|idiotic|broken|useless|pathetic|incompetent) (?:bot|machine|robot|system|computer|thing|ai|menu|people|company)\b|\b(?:are you (?:stupid|deaf|kidding|serious|an idiot)|what is wrong with you|what'?s wrong with you|you(?:'re| are) (?:an? )?(?:idiot|moron|stupid|useless|incompetent|pathetic))\b|\b(?:idiot|moron|incompetent)\b/, weight: 1.3, name: 'insults the agent' },
  { re: /\b(?:fuck\w*|shit\w*|damn\w*|goddamn|bloody|crap|bullshit|wtf|pissed|bastard|asshole|hell)\b/, weight: 0.6, name: 'profanity' },
  { re: /\b(?:cancel (?:everything|my account|my subscription|it all)|close my account|switching to|going to (?:a )?competitor|report you|file a complaint|lawyer|sue)\b/, weight: 0.6, name: 'threatens to leave' },
  // Escalation beyond the call: leaving, reporting, taking it elsewhere, never coming back.
  { re: /\b(?:i'?m (?:leaving|cancell?ing|so done|out of here|reporting (?:you|this|it))|i'?m done(?![ ,]+(?:with (?:my|the|this) order|ordering|for (?:now|today)|here|thanks|thank))|i'?m (?:calling|contacting|phoning|reporting (?:you|this) to) (?:the (?:police|cops|(?:\w+ ){1,2}(?:department|authority|board|commission|ombudsman))|my bank|my lawyer|trading standards)|(?:do|file|filing|doing) a chargeback|dispute (?:it|this|the charges?) with my (?:bank|card)|(?:going|go) to the (?:ombudsman|police|press|regulator|better business bureau)|reporting (?:you|this) to|(?:is|are) getting a complaint|(?:send|sending|charge|charging) you the bill|telling everyone|never (?:\w+ing|deal\w*|use|come|order|fly|book|shop)(?: \w+){0,3} (?:again|from you|with you)|(?:somewhere|someplace|elsewhere) else|book(?:ing)? (?:somewhere|elsewhere)|across the street)\b/, weight: 1.5, name: 'threatens to escalate' },
  // Indignation: the caller names what is happening to them.
  { re: /\b(?:unbelievable|un-?be-?lievable|unreal|a farce|a nightmare|a disaster|a scam|scam|robbery|thieves|predatory|harassment|heartless|junk|piece of (?:junk|garbage|crap)|the worst|for crying out loud|oh my god|omg|jesus(?: christ)?|ugh|just wow|out of your mind|are you insane|not good enough|doesn'?t cut it|not my problem|how is that fair|what good are you|what'?s the point|losing (?:it|my mind|money)|going to scream|end of my rope|so tired of|tired of this|(?:so|really|getting really) frustrating|disgrace\w*|shameful|appalling|pathetic)\b/, weight: 1.1, name: 'indignation' },
  // Not heard: the caller has to make the agent hear them.
  { re: /\b(?:did you (?:hear|listen to)|do you (?:hear|understand|get) (?:me|that|it|what i'?m saying)|do you (?:not )?(?:believe|think i'?m)|^\W*i (?:know|heard)[.!]|read what i (?:said|wrote)|(?:literally|exactly) what i (?:said|asked)|that'?s what (?:you|they|he|she|everyone|everybody|the last (?:\w+ )?(?:people|person|agents?|guys?|ones?)) (?:said|told me|promised|say|always say)|you said that|same (?:answer|thing)|stop saying|the same thing|i (?:just )?did(?: that)?!|did all of that|i just told you)\b/, weight: 1.5, name: 'not heard' },
  { re: /\b(?:why (?:would|should) i (?:pay|have to|need to|wait|believe|trust|bother|accept)|i (?:didn'?t|did not|never) (?:choose|order(?:ed)?|ask(?:ed)? for|agree(?:d)? to|sign(?:ed)? up for|authori[sz]e) (?:it|that|this|any of (?:it|that|this)|them)\b)/, weight: 1.0, name: 'disputes it' },
  { re: /\b(?:refund me|(?:i want|give me|i need|i demand) (?:my|a|some) (?:money|refund|compensation)(?: back)?|give it back|my money back|(?:want|demand) (?:compensation|an apology)|do something|tell (?:me )?the truth|make (?:them|it) stop)\b/, weight: 0.9, name: 'demands' },
  { re: /^\W*(?:of course (?:not|you|it|they)|yeah\W+(?:i'?m )?sure|sure you (?:do|will|are)|oh,? (?:great|perfect|wonderful|fantastic)[.!]\s*(?:just|perfect|great|another)\b)/, weight: 1.2, name: 'sarcasm' },
];
const MAX_CUE_BOOST = 2.5;

/** "Two weeks?", "Another hour?", "Ten working days? For a refund?": a wait thrown back in disbelief, unless the caller
 *  accepts it in the same breath ("Twenty minutes? Okay, that's fine"). */
const WAIT_IN_DISBELIEF =
  /^\W*(?:another |over |more than |nearly |almost |at least )?(?:a |an |one |two |three |four |five |six |seven |eight |nine |ten |twelve |fifteen |twenty |thirty |forty |fifty |sixty |ninety |a few |several |\d+ )?(?:more |working |business )?(?:minutes?|hours?|days?|weeks?|months?)\?(?!\s*(?:ok|okay|fine|sure|alright|great|no problem|perfect|that'?s (?:fine|ok|okay|great|good)|that works|good|lovely|cool))/;

export interface CueResult {
  boost: number;
  triggers: string[];
  /** Said with a sneer ("oh great, thanks for nothing"): the polite words in it do not count as calm. */
  sarcasm: boolean;
}

/** Phrases in one utterance that mean frustration on a service call, as a logit boost and named triggers. */
export function frustrationCues(text: string): CueResult {
  const t = normalize(text);
  let boost = 0;
  let sarcasm = false;
  const triggers: string[] = [];
  for (const cue of CUES) {
    const m = cue.re.exec(t);
    if (!m) continue;
    boost += cue.weight;
    if (cue.name === 'sarcasm') sarcasm = true;
    triggers.push(cue.name === 'profanity' ? 'profanity' : `said '${m[0]}'`);
  }
  if (WAIT_IN_DISBELIEF.test(t)) {
    boost += 0.8;
    triggers.push('a wait thrown back in disbelief');
  }
  const words = text.match(/[A-Za-z]{2,}/g) ?? [];
  const caps = words.filter((w) => w.length >= 2 && w === w.toUpperCase()).length;
  if (words.length >= 2 && caps * 2 >= words.length && caps >= 2) {
    boost += 0.4;
    triggers.push('shouting (capitals)');
  }
  // One word stressed in capitals ("No, I SAID Thursday"): a correction said louder. Short acronyms are left alone.
  if (caps >= 1 && caps * 2 < words.length + 1 && /\b(?!(?:ASAP|USPS|UPS|HDMI|WIFI|ATM|PIN|SSN|IBAN|ID|OK|USA|NYC|TV|DVD)\b)(?:[A-Z]{4,}|HAD|DID|WAS|NOT|NOW|YOU|ARE|WHY|HOW|ONE|TWO|SAY|SAW|ASK|GOT)\b/.test(text) && /[a-z]/.test(text)) {
    boost += 0.6;
    triggers.push('stressed word (capitals)');
  }
  // Questions fired one after another ("How soon? Minutes? Hours?"): pressing, not asking.
  if ((text.match(/\?/g) ?? []).length >= 2 && text.length < 60) {
    boost += 0.5;
    triggers.push('presses with questions');
  }
  // An exclamation that is not a greeting or thanks ("I paid it on Monday!"): said raised, on a phone line.
  if (/!/.test(text) && !/!{2,}|\?!|!\?/.test(text) && !/\b(?:thanks?|thank you|great|perfect|awesome|wonderful|lovely|amazing|excellent|hi|hello|hey|bye|goodbye|yes please|yay|cool|nice|sounds good|congrat\w*|happy|welcome|cheers)\b/.test(t)) {
    boost += 0.4;
    triggers.push('exclamation');
  }
  if (/!{2,}|\?!|!\?/.test(text)) {
    boost += 0.3;
    triggers.push('exclamations');
  }
  return { boost: Math.min(boost, MAX_CUE_BOOST), triggers, sarcasm };
}

/** A caller turn scoring at least this counts as tense for the turns after it. */
const TENSE = 0.3;
const TENSION_WEIGHT = 2.5;
const TENSION_CAP = 2;
const AGENT_LOOP_WEIGHT = 1.2;
const DEFLECT_WEIGHT = 0.5;
const RESTATE_WEIGHT = 0.4;
const APOLOGY_WEIGHT = 0.3;
const MAX_CONTEXT_BOOST = 3;

const AGENT_FAILED =
  /\b(?:didn'?t (?:catch|understand|get) (?:that|you)|i didn'?t (?:understand|catch)\b|did not (?:catch|understand)|(?:can|could) you (?:please )?(?:repeat|rephrase|say that again)|i'?m not sure (?:i understand|what you mean)|i don'?t understand|sorry,? i (?:can'?t|cannot) help with that|i'?m having trouble understanding)\b/;

/** The agent turning the caller away: it cannot help, it is policy, go online, file it yourself. */
const AGENT_DEFLECTED =
  /\b(?:can'?t help with|nothing (?:else )?(?:i|we) can do|there'?s nothing|(?:our|company|the) policy|(?:i'?m|we'?re) (?:unable|not able) to|i don'?t have (?:a|any|that|an)\b|you'?ll (?:have|need) to|you (?:can|could|need to|will need to|must) (?:file|submit|call|contact|visit|go|try|wait|email|write)|please (?:try|submit|visit|call|wait|contact|email)|non-?refundable|cannot be (?:changed|refunded|cancell?ed))\b|\b(?:online|on our website|in the app)\W*$/;
/** The agent apologising: something on the call has gone wrong. */
const AGENT_APOLOGISED = /\b(?:i'?m|we'?re|i am|we are) (?:so |very |really |terribly )?sorry\b(?! (?:i|we) (?:didn'?t|did not) (?:catch|understand|get))|\bapologi[sz]e\b/;

/** The agent saying it did not understand ("Sorry, I didn't catch that", "Could you repeat that?"). */
export function agentFailed(text: string): boolean {
  return AGENT_FAILED.test(normalize(text));
}

export interface ContextResult {
  boost: number;
  triggers: string[];
}

/**
 * What the conversation before this utterance adds: frustrated caller turns (their own scores, oldest first),
 * a rising trend, the agent failing to understand, and the caller saying the same thing again.
 */
export function contextSignals(text: string, context: readonly Turn[], callerScores: readonly number[], current: number): ContextResult {
  let boost = 0;
  const triggers: string[] = [];
  const recent = callerScores.slice(-4);
  // Tension carries over: each recent caller turn above calm adds in proportion to how far above it was.
  const tense = recent.slice(-3).filter((p) => p >= TENSE);
  if (tense.length > 0) {
    boost += Math.min(TENSION_CAP, tense.reduce((sum, p) => sum + TENSION_WEIGHT * (p - TENSE), 0));
    triggers.push(`${tense.length} tense turn${tense.length > 1 ? 's' : ''} before`);
  }
  const trend = [...recent.slice(-2), current];
  if (trend.length === 3 && trend[0]! < trend[1]! && trend[1]! < trend[2]! && trend[2]! - trend[0]! > 0.2) {
    boost += 0.4;
    triggers.push('rising negativity');
  }
  const failures = context.slice(-8).filter((t) => t.track === 'outbound' && AGENT_FAILED.test(normalize(t.text))).length;
  if (failures > 0) {
    boost += 0.5 * Math.min(failures, 3);
    triggers.push(`agent failed to understand ${failures} time${failures > 1 ? 's' : ''}`);
  }
  const agentTurns = context.slice(-8).filter((t) => t.track === 'outbound').map((t) => normalize(t.text));
  const deflections = agentTurns.filter((t) => AGENT_DEFLECTED.test(t)).length;
  if (deflections > 0) {
    boost += DEFLECT_WEIGHT * Math.min(deflections, 2);
    triggers.push(`agent turned the caller away${deflections > 1 ? ` ${deflections} times` : ''}`);
  }
  if (agentTurns.some((t) => AGENT_APOLOGISED.test(t))) {
    boost += APOLOGY_WEIGHT;
    triggers.push('agent apologised');
  }
  const { repeats: loops, lastRepeats: justNow } = agentRepeats(context.slice(-8));
  if (loops > 0) {
    // The agent has just said again what it said before: this turn answers the loop itself.
    boost += AGENT_LOOP_WEIGHT * Math.min(loops, 2) + (justNow ? 0.5 : 0);
    triggers.push(`agent repeated itself${loops > 1 ? ` ${loops} times` : ''}`);
  }
  if (echoesAgent(text, context)) {
    boost += 0.6;
    triggers.push("throws the agent's words back");
  }
  const corrects = correctsAgain(text, context);
  if (corrects) {
    boost += 0.6;
    triggers.push('corrects the same thing again');
  }
  if (!corrects && restates(text, context)) {
    boost += RESTATE_WEIGHT;
    triggers.push('says again what they said before');
  }
  if (repeatsEarlierTurn(text, context)) {
    boost += 0.8;
    triggers.push('repeats an earlier request');
  }
  return { boost: Math.min(boost, MAX_CONTEXT_BOOST), triggers };
}

const jaccard = (a: Set<string>, b: Set<string>): number => {
  let shared = 0;
  for (const w of a) if (b.has(w)) shared++;
  return shared / (a.size + b.size - shared);
};

/** The share of the smaller set's words found in the larger: "Would you like a replacement?" said again after
 *  "I'm sorry. Would you like a replacement?" is the same line with an apology in front. */
const within = (a: Set<string>, b: Set<string>): number => {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let shared = 0;
  for (const w of small) if (large.has(w)) shared++;
  return shared / small.size;
};

/** Agent turns that say again what the agent already said (the conversation going round in circles), and whether
 *  the last turn is one of them. */
function agentRepeats(turns: readonly Turn[]): { repeats: number; lastRepeats: boolean } {
  const said: Set<string>[] = [];
  let repeats = 0;
  let lastRepeats = false;
  for (const t of turns) {
    lastRepeats = false;
    if (t.track !== 'outbound') continue;
    const words = wordSet(t.text);
    if (words.size >= 3 && said.some((w) => w.size >= 3 && (jaccard(w, words) >= 0.8 || within(words, w) >= 0.9))) {
      repeats++;
      lastRepeats = true;
    }
    said.push(words);
  }
  return { repeats, lastRepeats };
}

/** "Ninety minutes?", "Soon. Right.": the caller opens by throwing the agent's own words back at it. */
function echoesAgent(text: string, context: readonly Turn[]): boolean {
  const last = context[context.length - 1];
  if (!last || last.track !== 'outbound') return false;
  const m = /^\W*([a-z][a-z' -]{2,30}?)([?.!])\s*(.*)$/.exec(normalize(text));
  if (!m) return false;
  const [, echo, mark, rest] = m;
  const words = contentWords(echo!);
  if (words.length === 0 || words.length > 4 || !words.every((w) => wordSet(last.text).has(w))) return false;
  return mark === '?' || /^(?:right|sure|great|fantastic|wonderful|perfect|lovely|brilliant|of course|noted|always)\b/.test(rest!);
}

const FUNCTION_WORDS = new Set([
  'no', 'nope', 'nah', 'not', 'said', 'the', 'and', 'that', 'thats', "that's", 'this', 'make', 'please', 'just', 'now',
  'all', 'yes', 'for', 'you', 'your', 'its', "it's", 'one', 'with', 'can', 'have', 'want', 'like', 'then', 'there',
  'thanks', 'thank', 'okay', 'what', 'but', 'was', 'are', 'told', 'again', 'sorry', 'actually', 'well',
]);

/** Words that carry content ("thursday", "seven"), for telling a correction of the same thing. */
function contentWords(text: string): string[] {
  return (normalize(text).match(/[a-z0-9']+/g) ?? []).filter((w) => w.length >= 3 && !FUNCTION_WORDS.has(w));
}

/** "I sent them. A month ago." after "I sent the documents a month ago": the caller has to say the same thing again
 *  (two content words or more of one of their last three turns), the agent not having acted on it. */
function restates(text: string, context: readonly Turn[]): boolean {
  const now = new Set(contentWords(text));
  if (now.size < 2) return false;
  return context.filter((t) => t.track === 'inbound').slice(-3).some((t) => new Set(contentWords(t.text).filter((w) => now.has(w))).size >= 2);
}

/** "No, I SAID Thursday" after "Thursday the twelfth": the caller corrects the agent with what they said before. */
function correctsAgain(text: string, context: readonly Turn[]): boolean {
  if (!/^\W*(?:no|nope|nah|not)\b/.test(normalize(text))) return false;
  const now = contentWords(text);
  if (now.length === 0) return false;
  return context.filter((t) => t.track === 'inbound').slice(-3).some((t) => contentWords(t.text).some((w) => now.includes(w)));
}

// Context turns are read again on every later turn of the call: their word sets are kept (bounded).
const wordSets = new Map<string, Set<string>>();

function wordSet(text: string): Set<string> {
  let words = wordSets.get(text);
  if (words) return words;
  words = new Set(normalize(text).match(/[a-z0-9']+/g) ?? []);
  if (wordSets.size >= 2000) wordSets.delete(wordSets.keys().next().value!);
  wordSets.set(text, words);
  return words;
}

function repeatsEarlierTurn(text: string, context: readonly Turn[]): boolean {
  const now = wordSet(text);
  if (now.size < 3) return false;
  return context.some((t) => {
    if (t.track !== 'inbound') return false;
    const before = wordSet(t.text);
    let shared = 0;
    for (const w of now) if (before.has(w)) shared++;
    return shared / (now.size + before.size - shared) >= 0.7;
  });
}
