// Recognises a caller asking for a person ("agent", "a real person", "put me through to someone") and the
// look-alikes that are not requests ("are you a bot?", "I don't need an agent", "the agent told me").

/** Canonical text for matching: lower case, straight apostrophes, single spaces. */
export function normalize(text: string): string {
  return text.toLowerCase().replace(/[’‘`]/g, "'").replace(/\s+/g, ' ').trim();
}

const DET = String.raw`(?:a |an |the |some |any |your |one of your |another |other )?`;
const ADJ = String.raw`(?:real |live |actual |human |other |different |proper |breathing |flesh and blood |customer service |customer care |support |senior )?`;
const PERSON = String.raw`(?:human(?: being| agent)?s?|person|people|agent|representative|rep|operator|someone|somebody|anyone|anybody|supervisor|manager|advisor|adviser|specialist|employee|staff member|associate|live agent|team member|boss|man|woman|lady|guy)`;
const NOUN = `${DET}${ADJ}${PERSON}\\b`;

interface Pattern {
  re: RegExp;
  /** Words of the match quoted in the trigger, e.g. "real person". */
  quote: (m: RegExpExecArray) => string;
}

const tail = (m: RegExpExecArray): string => (m[m.length - 1] ?? m[0]).trim();

const REQUESTS: Pattern[] = [
  // "let me talk to a real person", "can I speak with someone", "help talking with an agent"
  { re: new RegExp(String.raw`\b(?:talk|talking|speak|speaking|chat|chatting|converse)\s+(?:to|with)\s+(${NOUN})`, 'g'), quote: tail },
  // "transfer me to an agent", "put me through to someone", "connect me with a human"
  { re: new RegExp(String.raw`\b(?:connect|connecting|transfer|put|pass|switch|forward|route|escalate|hand)\s+(?:me|this|this call|the call|my call)?\s*(?:through|over|back)?\s*(?:to|with)\s+(${NOUN})`, 'g'), quote: tail },
  // "get me a human", "give me a real person", "I want a representative", "I need an operator"
  { re: new RegExp(String.raw`\b(?:get|give|find|want|need|like|demand|request|prefer|have)\s+(?:me\s+)?(?:to (?:have|get|see)\s+)?(${DET}${ADJ}(?:human(?: being)?|person|agent|representative|rep|operator|supervisor|manager|live agent)\b)`, 'g'), quote: tail },
  // "contact a live agent", "reach a person"
  { re: new RegExp(String.raw`\b(?:contact|contacting|reach|reaching|call|ring|see)\s+(${DET}${ADJ}(?:human(?: being| agent)?|person|agent|representative|operator|someone|somebody|supervisor|manager|live agent)\b)`, 'g'), quote: tail },
  // "is there a human I can talk to"
  { re: /\bis there (?:a|an|any|some)\s*(?:real |live |actual )?(human|person|one|body|agent|representative)\b[^.?!]*\b(?:talk|speak|help)/g, quote: () => 'is there a person' },
  // "no more robots", "I don't want to talk to a machine"
  { re: /\b(?:don'?t|do not|no more|stop|enough|sick of|tired of|hate|not)\b[^.?!]{0,25}\b(machines?|robots?|bots?|computers?|automated \w+|recordings?|ai)\b/g, quote: (m) => `not a ${m[1]!.replace(/s$/, '')}` },
];

/** The whole utterance is the request: "Agent!", "Representative, please.", "operator operator". */
const BARE = new RegExp(
  String.raw`^(?:(?:hi|hello|yes|no|please|now|just|um|uh|okay|ok|i said|give me|get me|a|an)\s+)*(?:(?:real |live |actual |human )?(?:human|person|agent|representative|rep|operator|supervisor|manager|live agent|customer service representative)[\s,.!]*(?:please|now|right now)?[\s,.!]*)+$`,
);

/** Questions about who is speaking, not requests: "are you a bot?", "am I talking to a real person?". */
const IDENTITY_QUESTION =
  /\b(?:are you|r u|is this|is that|am i (?:talking|speaking|chatting) (?:to|with)|was that|were you|is it)\s+(?:a |an |even a |really a |actually a )?(?:real |live |actual |human )?(?:human|person|people|bot|robot|machine|computer|ai|recording|real|live|automated)\b[^.?!]*[?.!]?/g;

const NEGATED_BEFORE = /\b(?:don'?t|do not|doesn'?t|didn'?t|never|no need|not|without|won'?t|wouldn'?t|no longer)\b(?:\s+\w+){0,4}\s*$/;
const REPORTED = /\b(?:my|his|her|their|travel|real estate|insurance|estate|sports|secret|fbi|border|booking)\s+$/;

export interface HumanRequest {
  explicit: boolean;
  /** True when the utterance only asks who is speaking, or declines a person. */
  declined: boolean;
  trigger?: string;
}

/** Rules for an explicit request for a person; declined covers "are you a bot?" and "I don't need an agent". */
export function findHumanRequest(text: string): HumanRequest {
  const t = normalize(text);
  const identity = t.match(IDENTITY_QUESTION) !== null;
  const rest = t.replace(IDENTITY_QUESTION, ' ');
  if (BARE.test(rest.replace(/[!?.,]+$/g, '').trim()) && rest.trim() !== '') {
    return { explicit: true, declined: false, trigger: `said '${rest.replace(/[^a-z ]/g, ' ').replace(/\s+/g, ' ').trim()}'` };
  }
  let negated = false;
  for (const p of REQUESTS) {
    p.re.lastIndex = 0;
    for (let m = p.re.exec(rest); m; m = p.re.exec(rest)) {
      const before = rest.slice(Math.max(0, m.index - 40), m.index);
      const isBotRefusal = p === REQUESTS[REQUESTS.length - 1];
      if (!isBotRefusal && NEGATED_BEFORE.test(before)) {
        negated = true;
        continue;
      }
      const nounStart = m.index + m[0].lastIndexOf(m[1] ?? m[0]);
      if (REPORTED.test(rest.slice(Math.max(0, nounStart - 20), nounStart))) continue;
      return { explicit: true, declined: false, trigger: `said '${p.quote(m)}'` };
    }
  }
  return { explicit: false, declined: identity || negated };
}
