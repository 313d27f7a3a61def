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
  { re: /\b(?:already (?:told|said|gave|explained|answered|did)|how many times|keep (?:asking|saying|telling|repeating)|i (?:just )?said|i told you|like i said|as i said)\b/, weight: 1.2, name: 'repeating themselves' },
  { re: /\b(?:been on hold|on hold for|been waiting|waiting (?:for )?(?:over |more than )?(?:an|one|two|three|\d+) (?:hours?|minutes?|days?|weeks?)|for (?:over )?an hour|for hours|for ages|forever)\b/, weight: 1.1, name: 'waiting' },
  { re: /\b(?:not listening|you(?:'re| are) not (?:listening|helping|understanding)|you (?:don'?t|do not|never) (?:understand|listen|get it)|(?:doesn'?t|does not) understand|can'?t understand (?:you|me|anything)|not what i (?:said|asked)|that'?s not what i)\b/, weight: 1.2, name: 'not understood' },
  { re: /\b(?:useless|pointless|hopeless|worthless|waste of (?:my )?time|ridiculous|unacceptable|absurd|outrageous|insane|a joke|joke of a|nonsense|rubbish|garbage|terrible service|worst service|horrible service)\b/, weight: 1.0, name: 'contempt' },
  { re: /\b(?:fed up|sick (?:and tired|of)|had enough|i give up|enough is enough|fed up with|done with (?:this|you))\b/, weight: 1.3, name: 'fed up' },
  { re: /\bi(?:'m| am)\s+(?:so |really |very |extremely |getting |beyond )?(?:angry|furious|frustrated|annoyed|upset|pissed|mad|livid|irritated|disappointed)\b/, weight: 1.3, name: 'says they are upset' },
  { re: /\b(?:stupid|dumb|idiotic|broken|useless) (?:bot|machine|robot|system|computer|thing|ai|menu)\b|\b(?:are you (?:stupid|deaf|kidding|serious)|what is wrong with you|what'?s wrong with you)\b/, weight: 1.3, name: 'insults the agent' },
  { re: /\b(?:fuck\w*|shit\w*|damn\w*|goddamn|bloody|crap|bullshit|wtf|pissed|bastard|asshole|hell)\b/, weight: 0.6, name: 'profanity' },
  { re: /\b(?:cancel (?:everything|my account|my subscription|it all)|close my account|switching to|going to (?:a )?competitor|report you|file a complaint|lawyer|sue)\b/, weight: 0.6, name: 'threatens to leave' },
];
const MAX_CUE_BOOST = 2.5;

export interface CueResult {
  boost: number;
  triggers: string[];
}

/** Phrases in one utterance that mean frustration on a service call, as a logit boost and named triggers. */
export function frustrationCues(text: string): CueResult {
  const t = normalize(text);
  let boost = 0;
  const triggers: string[] = [];
  for (const cue of CUES) {
    const m = cue.re.exec(t);
    if (!m) continue;
    boost += cue.weight;
    triggers.push(cue.name === 'profanity' ? 'profanity' : `said '${m[0]}'`);
  }
  const words = text.match(/[A-Za-z]{2,}/g) ?? [];
  const caps = words.filter((w) => w.length >= 2 && w === w.toUpperCase()).length;
  if (words.length >= 2 && caps * 2 >= words.length && caps >= 2) {
    boost += 0.4;
    triggers.push('shouting (capitals)');
  }
  if (/!{2,}|\?!|!\?/.test(text)) {
    boost += 0.3;
    triggers.push('exclamations');
  }
  return { boost: Math.min(boost, MAX_CUE_BOOST), triggers };
}

const AGENT_FAILED =
  /\b(?:didn'?t (?:catch|understand|get) (?:that|you)|did not (?:catch|understand)|(?:can|could) you (?:please )?(?:repeat|rephrase|say that again)|i'?m not sure (?:i understand|what you mean)|i don'?t understand|sorry,? i (?:can'?t|cannot) help with that|i'?m having trouble understanding)\b/;

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
  const angry = recent.filter((p) => p >= 0.5).length;
  if (angry > 0) {
    boost += 0.6 * Math.min(angry, 3);
    triggers.push(`${angry} frustrated turn${angry > 1 ? 's' : ''} before`);
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
  if (repeatsEarlierTurn(text, context)) {
    boost += 0.8;
    triggers.push('repeats an earlier request');
  }
  return { boost: Math.min(boost, 2.5), triggers };
}

function wordSet(text: string): Set<string> {
  return new Set(normalize(text).match(/[a-z0-9']+/g) ?? []);
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
