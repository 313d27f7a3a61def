// A few hand-written caller lines in phone-call style (the public data is Reddit and chat text), added to training
// so the model knows calls too. Never scored: `npm run eval` reports on the public data only.

/** Requests for a person, as callers say them to a voice agent. */
export const WANTS_HUMAN = [
  'agent', 'representative', 'operator', 'human please', 'real person please', 'agent agent agent',
  'let me talk to a real person', 'can I talk to a human', 'I want to speak to a representative',
  'put me through to someone', 'transfer me to an agent', 'get me a supervisor', 'I need a real person',
  'stop, let me talk to someone', 'just connect me to a human being', 'can I please speak to an actual person',
  'I would like to talk to somebody from your team', 'is there anyone I can speak to', 'give me a live agent',
  'I do not want to talk to a machine', 'no more robots, a person please', 'let me speak to your manager',
  'can you transfer me to customer service representative', 'I want a human not a bot', 'operator now',
  'please get someone on the line', 'can a person call me back', 'put a human on the phone',
];

/** Close calls that are not requests for a person. */
export const NOT_WANTS_HUMAN = [
  'are you a bot?', 'are you a real person?', 'am I talking to a robot', 'is this a recording', 'are you human',
  'the agent told me my refund was on the way', 'I already spoke to someone yesterday', 'my travel agent booked it',
  'I do not need to talk to anyone, just check my balance', 'no need for an agent', 'who am I speaking with',
  'what is the phone number for customer service', 'what are your opening hours', 'I want to pay my bill',
  'can you send me an email', 'thank you, that is all', 'yes that is correct', 'I want to cancel my order',
  'my account is locked', 'where is my package', 'I need to change my address', 'a person knocked on my door',
  'the representative on the letter was rude', 'someone charged my card twice',
];

/** Frustrated callers. */
export const FRUSTRATED = [
  'this is the third time I call about this', 'I have been on hold for an hour', 'you are not listening to me',
  'I already told you my account number', 'this is ridiculous', 'what a waste of my time',
  'I am so fed up with this company', 'nothing you say makes any sense', 'why is this so difficult',
  'I keep telling you the same thing', 'this stupid machine does not understand me', 'unbelievable, still not fixed',
  'I want my money back right now', 'how many times do I have to repeat myself', 'you people are useless',
  'I have called five times this week', 'this is unacceptable', 'forget it, this is hopeless',
  'no, that is not what I said', 'oh my god, are you serious', 'I am really angry about this',
];

/** Calm callers. */
export const CALM = [
  'hi, I would like to check my balance', 'yes, that is right', 'my order number is 3707955617',
  'can you tell me when my package arrives', 'thank you so much for your help', 'I want to update my address',
  'sure, go ahead', 'could you repeat the last part', 'I am calling about my bill', 'okay, that works for me',
  'what time do you close today', 'I would like to pay with my card', 'great, thanks', 'no, that is all for today',
  'I need to reset my password', 'can I change my delivery date',
];
