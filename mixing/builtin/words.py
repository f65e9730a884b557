"""Small word lists written for codemix's built-in generators (no text taken from any dataset).

Every list holds plain lowercase ASCII words, so generated code can quote them with repr()
and answers can be computed with simple string rules.
"""

from __future__ import annotations

# Short common words: dict keys, prefixes and replacement words in pyfuncs, filler in texttasks.
WORDS = (
    "apple", "river", "stone", "cloud", "table", "chair", "green", "light", "music", "paper",
    "bread", "water", "plant", "glass", "house", "train", "horse", "tiger", "lemon", "grape",
    "sugar", "salt", "honey", "night", "morning", "garden", "window", "door", "road", "bridge",
    "forest", "ocean", "sand", "snow", "rain", "wind", "fire", "earth", "metal", "wood",
    "silver", "gold", "copper", "iron", "clock", "phone", "book", "pencil", "letter", "number",
    "color", "shape", "circle", "square", "line", "point", "price", "count", "total", "score",
    "level", "speed", "height", "width", "depth", "weight", "name", "title", "city", "street",
    "farm", "field", "hill", "lake", "island", "tower", "castle", "king", "queen", "knight",
    "robot", "rocket", "planet", "star", "moon", "sun", "comet", "pixel", "token", "block",
    "node", "edge", "path", "key", "value", "item", "list", "tree", "leaf", "root",
)

NAMES = (
    "Anna", "Ben", "Carlos", "Dana", "Eli", "Fatima", "George", "Hana", "Ivan", "Julia",
    "Kofi", "Lena", "Maria", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara",
    "Umar", "Vera", "Wei", "Yuki", "Zoe", "Leo", "Mia", "Ravi", "Nora", "Hugo",
)

# Countable things for word problems (plural forms).
ITEMS = (
    "apples", "pencils", "books", "marbles", "stickers", "cookies", "cards", "coins", "stamps",
    "shells", "balloons", "eggs", "oranges", "candles", "buttons", "flowers", "toys", "cups",
)

# Nouns whose plural follows the regular rules (+s, +es after s/x/z/ch/sh, consonant+y -> ies).
REGULAR_NOUNS = (
    "cat", "dog", "car", "book", "tree", "house", "river", "table", "chair", "pen", "box",
    "fox", "bus", "glass", "dress", "church", "beach", "brush", "dish", "watch", "city",
    "baby", "story", "party", "lady", "berry", "key", "day", "boy", "toy", "road", "lamp",
    "bird", "cup", "door", "hat", "cloud", "desk", "garden", "window", "bottle", "song",
)
IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "mouse": "mice", "tooth": "teeth",
    "foot": "feet", "goose": "geese", "person": "people", "leaf": "leaves", "knife": "knives",
    "wolf": "wolves", "life": "lives", "sheep": "sheep", "fish": "fish", "deer": "deer",
}

ANTONYMS = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "light": "dark",
    "young": "old", "tall": "short", "open": "closed", "early": "late", "empty": "full",
    "hard": "soft", "rich": "poor", "strong": "weak", "wet": "dry", "loud": "quiet",
    "clean": "dirty", "thick": "thin", "up": "down", "left": "right", "win": "lose",
    "buy": "sell", "push": "pull", "first": "last", "inside": "outside", "above": "below",
    "cheap": "expensive", "wide": "narrow", "easy": "difficult", "true": "false", "begin": "end",
}

POSITIVE_WORDS = (
    "wonderful", "great", "excellent", "lovely", "delightful", "pleasant", "fantastic",
    "brilliant", "superb", "charming", "enjoyable", "friendly", "helpful", "beautiful", "amazing",
)
NEGATIVE_WORDS = (
    "terrible", "awful", "horrible", "boring", "dreadful", "poor", "disappointing", "rude",
    "ugly", "broken", "dirty", "noisy", "unpleasant", "annoying", "useless",
)
REVIEW_THINGS = (
    "hotel", "movie", "meal", "book", "concert", "phone", "game", "trip", "class", "show",
    "cafe", "museum", "service", "laptop", "park",
)

CATEGORIES = {
    "fruit": ("apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "pear", "plum", "kiwi"),
    "animal": ("cat", "dog", "horse", "rabbit", "tiger", "lion", "zebra", "eagle", "frog", "whale"),
    "color": ("red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "gray"),
    "vehicle": ("car", "bus", "bicycle", "train", "truck", "boat", "plane", "scooter", "tram", "ship"),
    "instrument": ("piano", "guitar", "violin", "drum", "flute", "trumpet", "harp", "cello", "banjo", "oboe"),
}

# Verb -> (past tense, complements that fit it); subjects are I/we/you/they, so no -s forms.
VERBS = {
    "walk": ("walked", ("to school", "in the park", "along the river")),
    "play": ("played", ("chess", "the piano", "football after lunch")),
    "cook": ("cooked", ("dinner", "a big meal", "soup for everyone")),
    "clean": ("cleaned", ("the kitchen", "our room", "the windows")),
    "watch": ("watched", ("a film", "the birds", "the game on TV")),
    "visit": ("visited", ("our friends", "the museum", "a small town")),
    "paint": ("painted", ("the fence", "a picture", "the door blue")),
    "study": ("studied", ("for the test", "history", "in the library")),
    "carry": ("carried", ("the boxes", "a heavy bag", "the shopping")),
    "go": ("went", ("to the market", "home early", "to the beach")),
    "eat": ("ate", ("an apple", "breakfast", "too much cake")),
    "see": ("saw", ("a rainbow", "the mountains", "an old friend")),
    "write": ("wrote", ("a letter", "a short story", "an email")),
    "buy": ("bought", ("fresh bread", "a new coat", "two tickets")),
    "read": ("read", ("a book", "the news", "the instructions")),
    "run": ("ran", ("to the station", "five miles", "in the rain")),
    "drink": ("drank", ("some tea", "cold water", "a glass of juice")),
    "find": ("found", ("the keys", "a coin", "the answer")),
    "bring": ("brought", ("snacks", "an umbrella", "the chairs")),
    "sing": ("sang", ("a song", "in the choir", "very loudly")),
}

ADJECTIVES = (
    "happy", "tired", "hungry", "busy", "ready", "late", "quiet", "angry", "calm", "cold",
    "warm", "sleepy", "proud", "bored", "lucky", "brave", "kind", "clever", "shy", "early",
)
COMPARATIVES = {
    "big": "bigger", "small": "smaller", "fast": "faster", "slow": "slower", "tall": "taller",
    "short": "shorter", "happy": "happier", "easy": "easier", "hot": "hotter", "cold": "colder",
    "good": "better", "bad": "worse", "far": "farther", "young": "younger", "old": "older",
    "strong": "stronger", "heavy": "heavier", "light": "lighter", "busy": "busier", "wet": "wetter",
    "cheap": "cheaper", "loud": "louder", "quiet": "quieter", "funny": "funnier", "thin": "thinner",
}

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "school.example.edu")
