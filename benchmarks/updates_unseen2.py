"""The ``unseen2`` split of benchmarks/updates.py (issue 14): written in one go on 2026-12-01 16:18 UTC,
before any run on it, in templates, vocabulary and attributes none of the other five splits use:
most attributes are ones no slot rule or prototype names (instrument, doctor, bank, commute,
football club), values include lower-case ones (job titles, diets, ways to commute), changes are
told as events without topic words ("Badge photo taken, officially part of Falcora now"), and
questions often share no word with the statements ("Where do I keep my money now?").
Confusers: other people's changes, plans, wishes and hypotheticals, distant or passing past events.
Its first run on the committed code (before any change made for it) is the honest figure.

Confusers and filler hold no value of any attribute below, so they can only show up as false
supersessions, never as a "current value" hit."""

from __future__ import annotations

# attribute → values, (first statements, change statements), present questions, past questions
UNSEEN2: dict[str, dict] = {
    "residence": dict(
        values=["Rennes", "Graz", "Bergamo", "Tartu", "Lund"],
        unseen2=(["Our street in {v} is lovely in autumn.",
                  "The flat I rent in {v} is tiny but mine."],
                 ["Said farewell to the neighbours and drove the van to {v}.",
                  "The landlord in {v} handed over the keys on Friday.",
                  "Finally registered my address at the {v} town hall.",
                  "Two weeks in {v} and I already know the baker by name."]),
        present=["Which town is home these days?", "Where would a postcard reach me now?"],
        past=["Where did I live prior to the latest move?", "Which town was home before?"]),
    "employer": dict(
        values=["Falcora", "Redpine", "Omnitel", "Stellar Foods", "Krontec"],
        unseen2=(["{v} pays my bills, can't complain.",
                  "Eight years at {v} and still no parking spot."],
                 ["Badge photo taken, officially part of {v} now.",
                  "Resigned on Friday; {v} wants me to start right away.",
                  "Cleared my desk at the old place, {v} starts me on the 3rd.",
                  "Onboarding week at {v}: so many acronyms."]),
        present=["Who do I work for currently?", "Which firm am I at now?"],
        past=["Which firm was I at before?", "Who was my former employer?"]),
    "job": dict(
        values=["site reliability engineer", "account executive", "head of design",
                "solutions architect", "operations lead"],
        unseen2=(["My business card says {v}.",
                  "Day to day I'm the {v} for the logistics side."],
                 ["Got bumped up to {v} in the spring review.",
                  "The board signed off, I'm {v} as of today.",
                  "Updated my signature to say {v}, feels strange."]),
        present=["What position do I hold now?", "What's my title at the moment?"],
        past=["What position did I hold before?", "What was my former title?"]),
    "diet": dict(
        values=["vegan", "paleo", "low-carb", "dairy-free", "mediterranean"],
        unseen2=(["I stick to {v} food, mostly.", "Our kitchen is strictly {v}."],
                 ["Made the switch to {v} after the blood test.",
                  "Binned everything in the fridge that isn't {v}.",
                  "Week four of eating {v} and the cravings are gone."]),
        present=["Which diet do I follow now?", "What am I eating these days, diet-wise?"],
        past=["Which diet did I follow previously?", "How did I eat before the change?"]),
    "instrument": dict(
        values=["cello", "banjo", "ukulele", "saxophone", "harp"],
        unseen2=(["Practising the {v} every evening after dinner.",
                  "I've played the {v} since I was nine."],
                 ["Sold my old instrument and bought a {v}.",
                  "My teacher says my {v} scales are improving, two months in.",
                  "Rented a {v} for the term, the neighbours are patient."]),
        present=["Which instrument do I play?", "What am I practising at the moment?"],
        past=["Which instrument did I play before?", "What instrument did I use to practise?"]),
    "doctor": dict(
        values=["Dr Okafor", "Dr Lindqvist", "Dr Moreau", "Dr Haddad"],
        unseen2=(["{v} is my GP, very patient with me.",
                  "Booked my yearly check-up with {v}."],
                 ["Registered with a new practice, {v} will see me from now on.",
                  "The old GP retired, the clinic put me with {v}.",
                  "First appointment with {v} went well, I'll stay."]),
        present=["Who is my GP now?", "Which doctor do I see these days?"],
        past=["Who was my doctor before?", "Which GP did I see previously?"]),
    "bank": dict(
        values=["Monzo", "Triodos", "Bunq", "Starling", "Nordea"],
        unseen2=(["My salary lands in my {v} account.", "{v} handles all my savings."],
                 ["Closed the old account; everything runs through {v} now.",
                  "Moved my savings over to {v} last week.",
                  "The {v} card arrived, the old one is cut in half."]),
        present=["Which bank do I use?", "Where do I keep my money now?"],
        past=["Which bank did I use before?", "Where did I bank previously?"]),
    "commute": dict(
        values=["ferry", "e-scooter", "cargo bike", "carpool"],
        unseen2=(["I get to the office by {v} most days.",
                  "The {v} is how I get in, forty minutes door to door."],
                 ["Ditched the old commute, it's the {v} for me now.",
                  "Bought a monthly pass, the {v} gets me in.",
                  "Three weeks of arriving by {v} and I'm never late."]),
        present=["How do I get to work now?", "What's my commute like these days?"],
        past=["How did I commute before?", "How did I use to get to work?"]),
    "club": dict(
        values=["Feyenoord", "Celtic", "Napoli", "Benfica", "Galatasaray"],
        unseen2=(["Season ticket holder at {v}, obviously.",
                  "Nothing ruins my Sunday like {v} losing."],
                 ["Switched allegiance, I'm a {v} fan these days.",
                  "Wore my new {v} scarf to the match, what an atmosphere.",
                  "Renewed nothing this year; I follow {v} now."]),
        present=["Which football club do I support?", "Who do I cheer for now?"],
        past=["Which club did I support before?", "Who did I use to cheer for?"]),
    "phone": dict(
        values=["+49 151 2345 6789", "0170 555 0199", "+31 6 4455 6677", "07911 123456"],
        unseen2=(["Put {v} on the delivery form.", "Signal me at {v}."],
                 ["Lost the old handset, new SIM: {v}.",
                  "The contract changed, so dial {v} from now."]),
        present=["How can people reach me by phone now?", "Which mobile number is mine currently?"],
        past=["What was my previous mobile number?", "Which number did I use before?"]),
    "gym": dict(
        values=["Iron Temple", "PureMove", "Gymbox", "Pulse Studio"],
        unseen2=(["Lifting at {v} four mornings a week.", "The sauna at {v} is the best part."],
                 ["Cancelled the direct debit and joined {v} instead.",
                  "My key fob for {v} came in the post."]),
        present=["Where do I work out these days?", "Which fitness club am I a member of?"],
        past=["Where did I work out before?", "Which gym was I a member of previously?"]),
    "language": dict(
        values=["Korean", "Turkish", "Greek", "Swahili"],
        unseen2=(["My flashcards are all {v} vocabulary.",
                  "Evening classes in {v} are the highlight of my week."],
                 ["Dropped the old course, it's {v} grammar every evening now.",
                  "Found a {v} tutor for Wednesdays, we started yesterday."]),
        present=["Which language am I picking up at the moment?", "What language am I learning now?"],
        past=["Which language was I learning before?", "What language did I study previously?"]),
}
CONFUSERS_UNSEEN2 = [
    "My flatmate started supporting Ajax out of nowhere.",
    "Kasper sold his bike and drives to work now.",
    "We might switch banks next year, Revolut looks nice.",
    "If I ever learn another language it'll be Icelandic.",
    "Dreaming of a cottage in Cornwall one day.",
    "Years ago I played the trumpet in a school band.",
    "Mum's new doctor is Dr Patel, she likes him.",
    "The office moved to the fourth floor.",
    "Lena joined Deloitte last month and already hates the commute.",
    "Would I ever go raw? Probably not.",
    "For one week in 2019 we lived on a houseboat in Amsterdam.",
    "Tried a spin class at a friend's gym, not for me.",
    "Picked up a mandolin at a party and failed miserably.",
    "They made me treasurer of the book club for the evening.",
    "Moved the meeting with the bank advisor to Tuesday.",
    "My brother is now head of sales at Vodafone.",
    "Should I get a Peloton? Thinking about it.",
]
FILLER_UNSEEN2 = [
    "The printer jammed twice this morning.", "What's a good substitute for buttermilk?",
    "Watered the tomatoes before the heatwave.", "The fog hasn't lifted all day.",
    "Any podcast recommendations for long walks?", "My eyes are tired from the screen.",
    "Baked banana bread with the kids.", "Need to renew my passport soon.",
    "The power flickered during the storm.", "Found a great second-hand bookshop.",
]
