// Recognises a caller's plain answer to the agent ("No.", "No, not now.", "Nope, that's all", "I don't think so",
// "No, make it three", "just one person", "SF please", "thanks"): on a call these are neutral, whatever the same words
// mean in a Reddit thread. Pure; the classifier caps the frustration of such a turn when it answers the agent.

import type { Turn } from '../types.js';
import { normalize } from './wants-human.js';

/** Words that open an answer; stripped before the rest is judged. */
const OPENERS = /^(?:(?:no|nope|nah|naw|not really|yes|yeah|yep|yup|sure|ok|okay|alright|all right|um+|uh+|er+|hmm+|well|oh|actually|sorry|right|correct|fine|thanks|thank you|no thanks|no thank you)[\s,.!]*)+/;

/** What may follow the opener and still be a plain answer: short, and nothing charged. */
const CHARGED =
  /\b(?:said|told|again|already|still|wrong|why|never|ever|seriously|stupid|idiot\w*|dumb|useless|ridiculous|hate|worst|terrible|awful|horrible|joke|kidding|unbelievable|listen\w*|understand\w*|hang up|cancel everything|done with|fed up|sick of|enough|waste|waiting|hold|god|hell|damn\w*|shit\w*|fuck\w*|crap|bloody|jesus|christ|wtf|ugh|seriously|how many|third|fourth|fifth|times|human|person|agent|someone|manager|supervisor)\b/;

const MAX_WORDS = 7;

/** "No, that's all" and friends: an opener and at most a few uncharged words, or a bare short answer. */
export function isPlainAnswer(text: string): boolean {
  if (/!{2,}|\?!|!\?/.test(text)) return false;
  const words = text.match(/[A-Za-z]{3,}/g) ?? [];
  if (words.filter((w) => w === w.toUpperCase()).length >= 2) return false; // shouted
  const t = normalize(text).replace(/[’‘`]/g, "'");
  if (CHARGED.test(t)) return false;
  const opened = OPENERS.exec(t);
  const rest = (opened ? t.slice(opened[0].length) : t).replace(/[^a-z0-9' ]+/g, ' ').trim();
  const n = rest === '' ? 0 : rest.split(/\s+/).length;
  if (opened) return n <= MAX_WORDS;
  // Without an opener: the usual closings and refusals of an offer ("that's all", "I don't think so", "not now").
  return n <= MAX_WORDS && /^(?:i don't think so|i do not think so|not (?:now|today|yet|right now|at the moment|this time)|that's (?:all|it|everything|fine|right|correct)|that is (?:all|it)|nothing else|i'm good|i am good|all set|we're (?:good|all set)|i'm fine|no worries|no problem|not that i know of|i guess|maybe)\b/.test(rest);
}

/** A short reply said flatly ("Q S three one one.", "the blue one"): no question, no exclamation, nothing charged. */
export function isShortReply(text: string): boolean {
  if (/[?!]/.test(text)) return false;
  const words = text.match(/[A-Za-z0-9']+/g) ?? [];
  if (words.length === 0 || words.length > 6) return false;
  if (words.filter((w) => w.length >= 3 && /^[A-Z]+$/.test(w)).length >= 1) return false; // a word stressed
  return !CHARGED.test(normalize(text));
}

/** The agent's last turn asked something ("Tracking number?"). */
export function agentAsked(context: readonly Turn[]): boolean {
  return answersAgent(context) && /\?\s*$/.test(context[context.length - 1]!.text);
}

/** The caller is answering the agent: the last turn before this one is the agent's. */
export function answersAgent(context: readonly Turn[]): boolean {
  return context.length > 0 && context[context.length - 1]!.track === 'outbound';
}
