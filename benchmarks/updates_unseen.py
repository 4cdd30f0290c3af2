"""The ``unseen`` split of benchmarks/updates.py (issue 14): written in one go on 2026-12-01 14:15 UTC,
before any run on it, in templates and vocabulary none of the other splits use, with attributes the
slot rules do not name (diet, hobby, partner, school, pet), changes told as events without topic
words ("They made me staff engineer", "Picked up the keys to our place in Nantes") and confusers
(other people's changes, plans and wishes, past events, "picked up the keys" of a rental van).
Its first run is the honest figure; rules must not be widened on its phrasings.

Confusers and filler hold no value of any attribute list below, so they can only show up as false
supersessions, never as a "current value" hit."""

from __future__ import annotations

# attribute → values, (first statements, change statements), present questions, past questions
UNSEEN: dict[str, dict] = {
    "residence": dict(
        values=["Nantes", "Bilbao", "Ghent", "Aarhus", "Bologna"],
        unseen=(["Home is a little terraced house in {v}.",
                 "I've lived in {v} ever since university."],
                ["Picked up the keys to our place in {v} this morning!",
                 "The removal van dropped everything off in {v} yesterday.",
                 "First night sleeping in our new {v} apartment.",
                 "We swapped the big city for {v}, still getting used to the quiet."]),
        present=["Where's home for me right now?", "What city do I live in?"],
        past=["Where was I living before the last move?", "Which city did I live in before?"]),
    "employer": dict(
        values=["Zentrix", "Brightwave", "Northwind", "Quantra", "Helix Bio"],
        unseen=(["I've been at {v} since I graduated.",
                 "These days I'm paid by {v}, mostly remote."],
                ["Got the offer letter from {v} and said yes.",
                 "Said goodbye to my old colleagues; on Monday I begin at {v}.",
                 "{v} hired me after the third interview.",
                 "The laptop from {v} arrived, so it's real now."]),
        present=["Who is my employer at the moment?", "Which company pays my salary now?"],
        past=["Which company did I work for before?", "Who employed me previously?"]),
    "job": dict(
        values=["staff engineer", "support manager", "product owner", "data analyst",
                "UX researcher"],
        unseen=(["Right now I'm a {v} on the platform group.",
                 "On paper I'm a {v}, in practice I do everything."],
                ["They made me {v} last month.",
                 "HR confirmed it: {v} from the first of the month.",
                 "After the reorg my title became {v}.",
                 "The promotion to {v} finally went through."]),
        present=["What's my current job title?", "What is my role at work these days?"],
        past=["What title did I have before?", "What was my previous role?"]),
    "diet": dict(
        values=["vegetarian", "pescatarian", "vegan", "keto", "flexitarian"],
        unseen=(["I've been {v} for years.", "I eat {v}, so plan dinners around that."],
                ["Three weeks into going {v} and I feel great.",
                 "The doctor suggested it, so I'm {v} from now on.",
                 "Cut everything else out, strictly {v} these days."]),
        present=["What diet am I on?", "How do I eat these days?"],
        past=["What diet did I follow before?", "How did I eat previously?"]),
    "hobby": dict(
        values=["pottery", "bouldering", "birdwatching", "woodworking", "sailing"],
        unseen=(["My weekends are all about {v}.", "Honestly {v} is what keeps me sane."],
                ["Gave up the old hobby, I'm hooked on {v} now.",
                 "Signed up for a {v} course and I love it.",
                 "All my free time goes into {v} lately."]),
        present=["What is my hobby these days?", "What do I do in my free time now?"],
        past=["What hobby did I have before?", "What did I use to do on weekends?"]),
    "partner": dict(
        values=["Tomas", "Ingrid", "Rafael", "Noor", "Mathilde"],
        unseen=(["{v} and I have been together for two years.", "My partner {v} says hi."],
                ["{v} and I made it official last weekend.",
                 "Things ended with my ex; I'm seeing {v} now.",
                 "Moved in with {v} in the spring, so far so good."]),
        present=["What's my partner's name?", "Who am I dating now?"],
        past=["Who was my partner before?", "Who did I date previously?"]),
    "school": dict(
        values=["Leiden University", "KU Leuven", "Sciences Po", "ETH Zurich", "Trinity College"],
        unseen=(["I'm doing my master's at {v}.", "Lectures at {v} start at eight, brutal."],
                ["Transferred to {v} for the second year.",
                 "My acceptance from {v} came through, I start in September.",
                 "Enrolled at {v} for the PhD."]),
        present=["Which university do I attend?", "Where am I studying now?"],
        past=["Which university did I attend before?", "Where did I study previously?"]),
    "pet": dict(
        values=["Biscuit", "Mochi", "Pepper", "Juniper"],
        unseen=(["Our dog {v} needs a walk every two hours.", "{v}, my cat, sleeps on my keyboard."],
                ["We rehomed the old dog; our only pet now is {v}.",
                 "After we lost the old cat, a kitten called {v} joined the family."]),
        present=["What is my pet called?", "What's the name of my pet now?"],
        past=["What was my previous pet called?", "What was my pet's name before?"]),
    "phone": dict(
        values=["+44 7700 900123", "0612 345 678", "+33 6 98 12 44 07", "0471 22 98 10"],
        unseen=(["Best way to reach me is {v}.", "Here's my mobile for the form: {v}."],
                ["Switched carriers and got {v} as a fresh number.",
                 "Ported out, {v} is the one that works now.",
                 "Old SIM is dead, ring me on {v}."]),
        present=["What number should people call me on?", "What's my phone number these days?"],
        past=["What was my old number?", "Which phone number did I have before?"]),
    "car": dict(
        values=["Nissan Leaf", "Skoda Octavia", "Peugeot 208", "Mazda CX-5", "Tesla Model 3"],
        unseen=(["The {v} gets me to work every day.", "We share one {v} between the two of us."],
                ["Collected a {v} from the dealer on Friday.",
                 "Said goodbye to the old car; the {v} is parked outside now.",
                 "Finance approved, the {v} is ours."]),
        present=["What do I drive?", "What car do we have now?"],
        past=["What car did we have before?", "What did I drive previously?"]),
}
CONFUSERS_UNSEEN = [
    "My sister finally moved to Valencia with her boyfriend.",
    "Jonas got promoted to director at his firm, good for him.",
    "We're thinking about moving to Seville someday.",
    "I'd love to work at Spotify one day.",
    "Planning to try a raw-food month in January, we'll see.",
    "Back in 2015 I lived in Marseille for a semester.",
    "My dad drives a Citroen C4 these days.",
    "Our neighbours adopted a puppy called Rolo.",
    "I picked up the keys for the rental van at 8.",
    "They made me captain of the pub quiz team for the night.",
    "Anna's new number is 0699 111 222, she asked me to pass it on.",
    "I tried archery once with Leo, never again.",
    "Last year we spent a week in Bergen, lovely city.",
    "My boss switched teams, now she runs the Berlin office.",
    "Moved the sofa next to the window, looks better.",
    "My cousin enrolled at Oxford Brookes this autumn.",
]
FILLER_UNSEEN = [
    "The tram was late again this morning.", "Any tips for getting rid of fruit flies?",
    "Finished a jigsaw puzzle of a lighthouse.", "It snowed a little overnight.",
    "How long should I boil an egg for a runny yolk?", "My back is stiff from the desk chair.",
    "Listening to the rain, very cosy.", "Need a birthday card idea for a colleague.",
    "Made a huge pot of lentil soup.", "Our internet went down for an hour.",
]
