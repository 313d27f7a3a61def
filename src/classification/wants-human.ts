// Recognises a caller asking for a person ("agent", "put me in touch with a human", "gimme a proper human", "forward
// me to your team") and the look-alikes that are not requests: "are you a bot?", "I don't need an agent", "the agent
// told me", a party size ("just one person") or a third party sought ("I need a doctor").

/** Canonical text for matching: lower case, straight apostrophes, single spaces. */
export function normalize(text: string): string {
  return text.toLowerCase().replace(/[’‘`]/g, "'").replace(/\s+/g, ' ').trim();
}

/** Spoken and typed shortcuts spelled out ("gimme" = "give me"), and misspellings of the words requests hinge on. */
const SHORTCUTS: [RegExp, string][] = [
  [/\bgimme\b/g, 'give me'],
  [/\blemme\b/g, 'let me'],
  [/\bwanna\b/g, 'want to'],
  [/\bgotta\b/g, 'got to'],
  [/\bhafta\b/g, 'have to'],
  [/\bu\b/g, 'you'],
  [/\bpls\b|\bplz\b/g, 'please'],
  [/\bhelpme\b/g, 'help me'],
  [/\bhand ?off\b/g, 'handoff'],
  [/\b(?:wth|wiht|wirh)\b/g, 'with'],
];

const FUZZY_TARGETS = [
  'someone', 'somebody', 'person', 'human', 'agent', 'assistant', 'operator', 'representative', 'supervisor',
  'manager', 'talk', 'speak', 'contact', 'talking', 'speaking', 'chatting',
];
/** Real words one letter away from a target that must stay what they are. */
const NOT_TYPOS = new Set(['steak', 'sneak', 'speck', 'spear', 'stalk', 'walks', 'talks', 'tales', 'chart', 'cheat', 'parson', 'agents', 'humans', 'humane', 'persons', 'contract', 'managed', 'manages', 'operate']);

/** One edit (insertion, deletion, substitution or swap of neighbours) apart. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b) return false;
  const la = a.length;
  const lb = b.length;
  if (Math.abs(la - lb) > 1) return false;
  let i = 0;
  while (i < la && i < lb && a[i] === b[i]) i++;
  if (la === lb) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true;
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  }
  return la > lb ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

function fixTypo(word: string): string {
  // Short words are too close to others ("that" / "chat", "tall" / "talk") to be corrected.
  if (word.length < 5 || NOT_TYPOS.has(word)) return word;
  for (const target of FUZZY_TARGETS) if (target.length >= 4 && oneEditApart(word, target)) return target;
  // Two words run together: "tosomebody", "wthsomeone".
  const glued = /^(to|with)(someone|somebody|person|human|agent)$/.exec(word);
  return glued ? `${glued[1]} ${glued[2]}` : word;
}

/** The text as the patterns read it: normalized, shortcuts spelled out, typos of the key words fixed. */
function requestText(text: string): string {
  let t = normalize(text);
  for (const [re, by] of SHORTCUTS) t = t.replace(re, by);
  return t.replace(/[a-z]+/g, fixTypo);
}

const DET = String.raw`(?:a |an |the |some |any |your |one of your |another |other |someone from |somebody from |someone on |somebody on |someone in |one of the )?`;
const ADJ = String.raw`(?:real |live |actual |human |other |different |proper |breathing |flesh and blood |customer service |customer care |customer support |support |senior |damn |bloody |goddamn |fucking |freaking )?`;
const PERSON = String.raw`(?:(?:human(?: being| agent)?|person|agent|assistant|representative|rep|operator|supervisor|manager|advisor|adviser|specialist|employee|staff member|associate|live agent|team member|boss|man|woman|lady|guy|vet|nurse|doctor|pharmacist|mechanic|technician|engineer|accountant|dispatcher|receptionist|concierge|agent)s?|people|someone|somebody|anyone|anybody|whoever|staff|team|customer (?:service|support|care)(?: team| department| line)?|help ?desk|support team|support staff|(?:front |service |group |sales )?desk)`;
/** One word that says which person ("a security specialist", "an account manager"), in requests to talk to them. */
const ROLE = String.raw`(?:(?!of\b|to\b|about\b)[a-z]+ ){0,2}`;
const NOUN = `${DET}${ADJ}${PERSON}\\b`;
/** A person one can be connected to, but not "someone", "anyone": "connect me with anyone" is still a request. */
const WANT_OBJECT = String.raw`${DET}${ADJ}(?:human(?: being)?|person|agent|representative|rep|operator|supervisor|manager|live agent|employee|staff member|customer service representative)\b`;

interface Pattern {
  re: RegExp;
  /** Words of the match quoted in the trigger, e.g. "real person". */
  quote: (m: RegExpExecArray) => string;
}

const tail = (m: RegExpExecArray): string => (m[m.length - 1] ?? m[0]).trim();

const BOT_REFUSAL: Pattern = {
  // "no more robots", "I don't want to talk to a machine"
  re: /\b(?:don'?t|do not|no more|stop|enough|sick of|tired of|hate|not)\b[^.?!]{0,25}\b(machines?|robots?|bots?|computers?|automated \w+|recordings?|ai)\b/g,
  quote: (m) => `not a ${m[1]!.replace(/s$/, '')}`,
};

const REQUESTS: Pattern[] = [
  // "let me talk to a real person", "can I speak with someone", "help talking with an agent"
  { re: new RegExp(String.raw`\b(?:talk|talking|speak|speaking|chat|chatting|converse)\s+(?:to|with)\s+(${DET}${ADJ}${ROLE}${PERSON}\b)`, 'g'), quote: tail },
  // "could someone from catering call me back", "can an agent ring me"
  { re: new RegExp(String.raw`\b(?:can|could|would|will|have|get)\s+(${DET}${ADJ}${PERSON}(?: (?:from|in|at|on) (?:the |your )?[a-z]+)?)\s+(?:just |please |maybe )?(?:call|ring|phone|contact)\s+me\b`, 'g'), quote: tail },
  // "I need an account manager on the phone", "can you put a human on?", "get someone on the line"
  { re: new RegExp(String.raw`\b(?:get|put|need|want|have)\s+(${DET}${ADJ}${ROLE}${PERSON})\s+on\b(?:\s+the\s+(?:phone|line))?(?!\s+(?:my|the|a|an|this|that|it|your)\b(?!\s+(?:phone|line)))`, 'g'), quote: tail },
  // "transfer me to an agent", "put me through to someone", "forward me to your team", "connect me with a human"
  { re: new RegExp(String.raw`\b(?:connect|connecting|transfer|put|patch|pass|switch|forward|route|escalate|hand)\s+(?:me|this|this call|the call|my call|it)?\s*(?:through|over|back|off)?\s*(?:to|with)\s+(${NOUN})`, 'g'), quote: tail },
  // "put me in touch with a human", "get me in contact with someone"
  { re: new RegExp(String.raw`\b(?:in touch|in contact)\s+with\s+(${NOUN})`, 'g'), quote: tail },
  // "get me a human", "give me a proper human", "I want a representative", "I need an operator"
  { re: new RegExp(String.raw`\b(?:get|give|find|want|need|like|demand|request|prefer|have)\s+(?:me\s+)?(?:to (?:have|get|see)\s+)?(${WANT_OBJECT})`, 'g'), quote: tail },
  // "get me someone from warranty", "find me somebody who knows"
  { re: /\b(?:get|find|give) me (someone|somebody|a person|a human)\b/g, quote: tail },
  // "contact a live agent", "reach a person"
  { re: new RegExp(String.raw`\b(?:contact|contacting|reach|reaching|call|ring|see)\s+(${DET}${ADJ}(?:human(?: being| agent)?|person|agent|assistant|representative|operator|someone|somebody|supervisor|manager|live agent)\b)`, 'g'), quote: tail },
  // "is there a human I can talk to"
  { re: /\bis there (?:a|an|any|some)\s*(?:real |live |actual )?(human|person|one|body|agent|representative|rep|manager|supervisor)\b[^.?!]*\b(?:talk|speak|chat)/g, quote: () => 'is there a person' },
  // "can you transfer me", "put me through please", "transfer my call", "human handoff", "hand me off"
  { re: /\b(?:transfer|forward|connect|put|patch) (?:me|my call|this call)(?: through)?\b(?! to (?!(?:a|an|the|your|some|someone|somebody)\b))(?!\s+(?:with|in)\b)|\b(?:human )?handoff\b|\bhand me (?:off|over)\b/g, quote: (m) => m[0] },
  BOT_REFUSAL,
];

/** The whole utterance is the request: "Agent!", "Representative, please.", "operator operator", "a human please". */
const BARE = new RegExp(
  String.raw`^(?:(?:hi|hello|yes|no|please|now|just|um|uh|okay|ok|i said|give me|get me|a|an|human)\s+)*(?:(?:a |an )?(?:real |live |actual |human |proper )?(?:human|person|agent|representative|rep|operator|supervisor|manager|live agent|customer service representative|customer service)[\s,.!]*(?:please|now|right now)?[\s,.!]*)+$`,
);

/** Questions about who is speaking, not requests: "are you a bot?", "am I talking to a real person?". */
const IDENTITY_QUESTION =
  /\b(?:are you|r u|is this|is that|am i (?:talking|speaking|chatting) (?:to|with)|was that|were you|is it)\s+(?:a |an |even a |really a |actually a )?(?:real |live |actual |human )?(?:human|person|people|bot|robot|machine|computer|ai|recording|real|live|automated)\b[^.?!]*[?.!]?/g;

const NEGATED_BEFORE = /\b(?:don'?t|do not|doesn'?t|didn'?t|never|no need|not|without|won'?t|wouldn'?t|no longer)\b(?:\s+\w+){0,4}\s*$/;
/** "I don't know how to talk to a person" still asks for one. */
const NOT_A_REFUSAL = /\b(?:don'?t|do not|didn'?t|not) (?:know|understand|see|get|find)\b|\bnot sure\b/;
const REPORTED = /\b(?:my|his|her|their|travel|real estate|insurance|estate|sports|secret|fbi|border|booking)\s+$/;
/** A service rather than a person ("customer support", "your team"): a request only when it is not about how to reach it. */
const SERVICE = /\b(?:customer (?:service|support|care)|team|help ?desk|department)\b/;
const HOW_TO_REACH = /\b(?:how|what|where|when|which|hours?|open|help|helping|assist\w*|in touch|number|email|mail|phone|address)\b/;
/** A party size, not a person sought: "one person", "for 2 people", "a table for one person". */
const QUANTITY_BEFORE = /\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+|single|per|each|every|for)\s+$/;

/** Every request names a person, a role, a service or a transfer, or refuses a machine: most turns are ruled out here. */
const MAY_REQUEST =
  /human|person|people|agent|assistant|rep|operator|some|any|body|who|supervis|manag|advis|special|employee|staff|team|boss|\bman\b|woman|lady|guy|vet|nurse|doctor|pharmac|mechanic|technic|engineer|accountant|dispatch|reception|concierge|service|support|care|desk|transfer|forward|connect|patch|put|pass|switch|route|escalat|hand|machine|robot|bot|computer|automat|recording|\bai\b/;

export interface HumanRequest {
  explicit: boolean;
  /** True when the utterance only asks who is speaking, or declines a person. */
  declined: boolean;
  trigger?: string;
}

/** Rules for an explicit request for a person; declined covers "are you a bot?" and "I don't need an agent". */
export function findHumanRequest(text: string): HumanRequest {
  const t = requestText(text);
  if (!MAY_REQUEST.test(t)) return { explicit: false, declined: false };
  const identity = t.match(IDENTITY_QUESTION) !== null;
  const rest = t.replace(IDENTITY_QUESTION, ' ');
  // The request may be one sentence of several: "Zero. Zero. Operator."
  const sentences = rest.split(/[.!?]+\s*/).map((x) => x.replace(/[,]+$/g, '').trim()).filter(Boolean);
  if (sentences.some((x) => BARE.test(x))) {
    return { explicit: true, declined: false, trigger: `said '${rest.replace(/[^a-z ]/g, ' ').replace(/\s+/g, ' ').trim()}'` };
  }
  let negated = false;
  for (const p of REQUESTS) {
    p.re.lastIndex = 0;
    for (let m = p.re.exec(rest); m; m = p.re.exec(rest)) {
      const before = rest.slice(Math.max(0, m.index - 40), m.index);
      if (p !== BOT_REFUSAL && NEGATED_BEFORE.test(before) && !NOT_A_REFUSAL.test(before)) {
        negated = true;
        continue;
      }
      const nounStart = m.index + m[0].lastIndexOf(m[1] ?? m[0]);
      const beforeNoun = rest.slice(Math.max(0, nounStart - 20), nounStart);
      if (REPORTED.test(beforeNoun) || QUANTITY_BEFORE.test(beforeNoun) || /^(?:my|his|her|their|our) /.test(m[1] ?? '')) continue;
      if (SERVICE.test(m[1] ?? '') && HOW_TO_REACH.test(rest)) continue;
      return { explicit: true, declined: false, trigger: `said '${p.quote(m)}'` };
    }
  }
  return { explicit: false, declined: identity || negated };
}

/**
 * Whether the text could be a request for a person at all: it names one (or a transfer) and is not only a party size.
 * The model's guess counts only then, so "please", "SF please" or "I want a mocha" never hand a caller off.
 */
export function namesAPerson(text: string): boolean {
  const t = requestText(text);
  // A service alone ("customer support") is left to the rules: asking how to reach it is not a request.
  const m = /\b(?:human|person|agent|assistant|representative|rep|operator|someone|somebody|anyone|anybody|supervisor|manager|employee|staff|transfer\w*|connect\w*|forward\w*)\b/.exec(t);
  if (!m) return false;
  return !QUANTITY_BEFORE.test(t.slice(Math.max(0, m.index - 20), m.index));
}
