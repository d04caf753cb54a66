/* The food table of the meal planner and the rules that keep foods out of a
 * plan: diets (by what a food comes from) and the user's exclusions (by
 * name and keyword). Values are per 100 g as eaten, rounded from USDA
 * FoodData Central (SR Legacy), protein powders typical label values; kcal is the table's own energy value,
 * not recomputed from the macronutrients (fibre and Atwater factors differ). */
#include <ctype.h>
#include <string.h>

#include "plan/plan.h"

enum { B = PLAN_SLOT_BREAKFAST, M = PLAN_SLOT_MAIN, S = PLAN_SLOT_SNACK };

/* clang-format off */
const struct plan_food plan_foods[] = {
    /* protein */
    {"chicken breast, roasted", 165, 31.0, 3.6, 0.0, PLAN_MEAT, PLAN_ROLE_PROTEIN, M, 300, "chicken,poultry,meat"},
    {"turkey breast, roasted", 147, 30.1, 2.1, 0.0, PLAN_MEAT, PLAN_ROLE_PROTEIN, M, 300, "turkey,poultry,meat"},
    {"lean beef mince (95%), cooked", 164, 25.6, 6.4, 0.0, PLAN_MEAT, PLAN_ROLE_PROTEIN, M, 250, "beef,red meat,meat"},
    {"pork tenderloin, roasted", 143, 26.2, 3.5, 0.0, PLAN_MEAT, PLAN_ROLE_PROTEIN, M, 250, "pork,red meat,meat"},
    {"salmon, baked", 206, 22.1, 12.4, 0.0, PLAN_FISH, PLAN_ROLE_PROTEIN, M, 250, "salmon,fish,seafood"},
    {"tuna, canned in water", 116, 25.5, 0.8, 0.0, PLAN_FISH, PLAN_ROLE_PROTEIN, M, 200, "tuna,fish,seafood"},
    {"cod, baked", 105, 22.8, 0.9, 0.0, PLAN_FISH, PLAN_ROLE_PROTEIN, M, 300, "cod,fish,seafood"},
    {"shrimp, cooked", 99, 24.0, 0.3, 0.2, PLAN_FISH, PLAN_ROLE_PROTEIN, M, 250, "shrimp,prawn,shellfish,seafood"},
    {"eggs, boiled", 155, 12.6, 10.6, 1.1, PLAN_EGG_DAIRY, PLAN_ROLE_PROTEIN, B | M, 200, "egg"},
    {"egg whites", 52, 10.9, 0.2, 0.7, PLAN_EGG_DAIRY, PLAN_ROLE_PROTEIN, B, 300, "egg,egg white"},
    {"Greek yogurt, plain non-fat", 59, 10.2, 0.4, 3.6, PLAN_EGG_DAIRY, PLAN_ROLE_PROTEIN, B | S, 400,
     "yogurt,yoghurt,dairy,milk,lactose"},
    {"cottage cheese, 1% fat", 72, 12.4, 1.0, 2.7, PLAN_EGG_DAIRY, PLAN_ROLE_PROTEIN, B | S, 300,
     "cottage cheese,cheese,dairy,milk,lactose"},
    {"firm tofu", 144, 17.3, 8.7, 2.8, PLAN_PLANT, PLAN_ROLE_PROTEIN, B | M, 350, "tofu,soy,soya"},
    {"tempeh", 192, 20.3, 10.8, 7.6, PLAN_PLANT, PLAN_ROLE_PROTEIN, B | M, 250, "tempeh,soy,soya"},
    {"lentils, boiled", 116, 9.0, 0.4, 20.1, PLAN_PLANT, PLAN_ROLE_PROTEIN, M, 400, "lentil,legume,pulse"},
    {"chickpeas, boiled", 164, 8.9, 2.6, 27.4, PLAN_PLANT, PLAN_ROLE_PROTEIN, M, 350,
     "chickpea,garbanzo,legume,pulse"},
    {"black beans, boiled", 132, 8.9, 0.5, 23.7, PLAN_PLANT, PLAN_ROLE_PROTEIN, M, 350,
     "black bean,bean,legume,pulse"},
    {"seitan", 370, 75.2, 1.9, 13.8, PLAN_PLANT, PLAN_ROLE_PROTEIN, M, 150, "seitan,wheat,gluten"},
    {"edamame", 121, 11.9, 5.2, 8.9, PLAN_PLANT, PLAN_ROLE_PROTEIN, M | S, 300, "edamame,soy,soya,bean"},
    /* protein powders: typical label values (brands differ by a few percent) */
    {"whey protein powder", 400, 80.0, 6.0, 8.0, PLAN_EGG_DAIRY, PLAN_ROLE_PROTEIN, B | S, 50,
     "whey,protein powder,dairy,milk,lactose"},
    {"pea protein powder", 390, 80.0, 7.0, 3.0, PLAN_PLANT, PLAN_ROLE_PROTEIN, B | S, 50,
     "pea,pea protein,protein powder,legume"},
    /* carbohydrate */
    {"rolled oats (dry)", 379, 13.2, 6.5, 67.7, PLAN_PLANT, PLAN_ROLE_CARB, B, 200, "oat,oatmeal,porridge,cereal"},
    {"wholemeal bread", 252, 12.4, 3.5, 42.7, PLAN_PLANT, PLAN_ROLE_CARB, B | M, 250, "bread,wheat,gluten"},
    {"brown rice, cooked", 123, 2.7, 1.0, 25.6, PLAN_PLANT, PLAN_ROLE_CARB, M, 500, "rice,grain"},
    {"white rice, cooked", 130, 2.7, 0.3, 28.2, PLAN_PLANT, PLAN_ROLE_CARB, M, 500, "rice,grain"},
    {"quinoa, cooked", 120, 4.4, 1.9, 21.3, PLAN_PLANT, PLAN_ROLE_CARB, M, 450, "quinoa,grain"},
    {"wholewheat pasta, cooked", 149, 6.0, 1.7, 30.1, PLAN_PLANT, PLAN_ROLE_CARB, M, 450, "pasta,wheat,gluten"},
    {"potatoes, boiled", 87, 1.9, 0.1, 20.1, PLAN_PLANT, PLAN_ROLE_CARB, M, 600, "potato"},
    {"sweet potato, baked", 90, 2.0, 0.2, 20.7, PLAN_PLANT, PLAN_ROLE_CARB, M, 500, "sweet potato,potato"},
    {"banana", 89, 1.1, 0.3, 22.8, PLAN_PLANT, PLAN_ROLE_CARB, B | S, 250, "banana,fruit"},
    {"apple", 52, 0.3, 0.2, 13.8, PLAN_PLANT, PLAN_ROLE_CARB, S, 400, "apple,fruit"},
    {"blueberries", 57, 0.7, 0.3, 14.5, PLAN_PLANT, PLAN_ROLE_CARB, B | S, 300, "blueberry,berry,fruit"},
    {"orange", 47, 0.9, 0.1, 11.8, PLAN_PLANT, PLAN_ROLE_CARB, S, 400, "orange,citrus,fruit"},
    {"rice cakes", 387, 8.2, 2.8, 81.5, PLAN_PLANT, PLAN_ROLE_CARB, S, 60, "rice cake,rice,grain"},
    /* fat */
    {"olive oil", 884, 0.0, 100.0, 0.0, PLAN_PLANT, PLAN_ROLE_FAT, M, 40, "olive oil,olive,oil"},
    {"avocado", 160, 2.0, 14.7, 8.5, PLAN_PLANT, PLAN_ROLE_FAT, B | M, 250, "avocado"},
    {"almonds", 579, 21.2, 49.9, 21.6, PLAN_PLANT, PLAN_ROLE_FAT, B | S, 60, "almond,nut,tree nut"},
    {"peanut butter", 588, 25.1, 50.4, 19.6, PLAN_PLANT, PLAN_ROLE_FAT, B | S, 50, "peanut,nut,legume"},
    {"walnuts", 654, 15.2, 65.2, 13.7, PLAN_PLANT, PLAN_ROLE_FAT, B | S, 50, "walnut,nut,tree nut"},
    {"cheddar cheese", 403, 24.9, 33.1, 1.3, PLAN_EGG_DAIRY, PLAN_ROLE_FAT, M | S, 60,
     "cheddar,cheese,dairy,milk,lactose"},
    {"chia seeds", 486, 16.5, 30.7, 42.1, PLAN_PLANT, PLAN_ROLE_FAT, B, 40, "chia,seed"},
    {"pumpkin seeds", 559, 30.2, 49.1, 10.7, PLAN_PLANT, PLAN_ROLE_FAT, M | S, 50, "pumpkin seed,seed"},
    /* vegetables and fruit served in a fixed portion */
    {"broccoli, steamed", 35, 2.4, 0.4, 7.2, PLAN_PLANT, PLAN_ROLE_VEG, M, 250, "broccoli,vegetable"},
    {"spinach", 23, 2.9, 0.4, 3.6, PLAN_PLANT, PLAN_ROLE_VEG, B | M, 200, "spinach,leafy green,vegetable"},
    {"carrots", 41, 0.9, 0.2, 9.6, PLAN_PLANT, PLAN_ROLE_VEG, M, 250, "carrot,vegetable"},
    {"bell pepper", 31, 1.0, 0.3, 6.0, PLAN_PLANT, PLAN_ROLE_VEG, M, 250, "pepper,bell pepper,vegetable"},
    {"green beans, boiled", 35, 1.9, 0.3, 7.9, PLAN_PLANT, PLAN_ROLE_VEG, M, 250, "green bean,bean,vegetable"},
    {"tomatoes", 18, 0.9, 0.2, 3.9, PLAN_PLANT, PLAN_ROLE_VEG, B | M, 250, "tomato,vegetable"},
    {"strawberries", 32, 0.7, 0.3, 7.7, PLAN_PLANT, PLAN_ROLE_VEG, B, 250, "strawberry,berry,fruit"},
    {"cucumber", 15, 0.7, 0.1, 3.6, PLAN_PLANT, PLAN_ROLE_VEG, M, 250, "cucumber,vegetable"},
};
/* clang-format on */
const size_t plan_nfoods = sizeof(plan_foods) / sizeof(plan_foods[0]);

bool
plan_food_diet_ok(const struct plan_food *f, enum plan_diet diet)
{
    static const enum plan_food_origin most[PLAN_DIET_COUNT] = {
        [PLAN_OMNIVORE] = PLAN_MEAT,
        [PLAN_PESCATARIAN] = PLAN_FISH,
        [PLAN_VEGETARIAN] = PLAN_EGG_DAIRY,
        [PLAN_VEGAN] = PLAN_PLANT,
    };
    return f->origin <= most[diet];
}

enum { WORD_MAX = PLAN_EXCLUDE_LEN * 4 + 1 };

/* Lower-cases s (ASCII), trims it and collapses runs of spaces into out.
 * Returns the length. */
static size_t
normalize(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;
    while (*s == ' ' || *s == '\t')
        s++;
    for (; *s != '\0' && n + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space && n > 0 && n + 2 < cap)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    return n;
}

/* The singular of a normalized word or phrase: berries -> berry,
 * potatoes -> potato, eggs -> egg (a trailing "ss" stays). */
static size_t
singular(char *s, size_t n)
{
    if (n > 3 && strcmp(s + n - 3, "ies") == 0) {
        s[n - 3] = 'y';
        s[n - 2] = '\0';
        return n - 2;
    }
    if (n > 3 && strcmp(s + n - 3, "oes") == 0) {
        s[n - 2] = '\0';
        return n - 2;
    }
    if (n > 1 && s[n - 1] == 's' && s[n - 2] != 's') {
        s[n - 1] = '\0';
        return n - 1;
    }
    return n;
}

static bool
contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return false;
    for (; *hay != '\0'; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] != '\0' && tolower((unsigned char)hay[i]) == needle[i])
            i++;
        if (i == nl)
            return true;
    }
    return false;
}

bool
plan_food_excluded_by(const struct plan_food *f, const char *exclusion)
{
    char ex[WORD_MAX], one[WORD_MAX];
    size_t n = normalize(exclusion, ex, sizeof(ex));
    if (n == 0)
        return false;
    memcpy(one, ex, n + 1);
    size_t sn = singular(one, n);
    /* Keywords are written in the singular. */
    const char *k = f->keywords;
    while (*k != '\0') {
        const char *comma = strchr(k, ',');
        size_t kl = comma != NULL ? (size_t)(comma - k) : strlen(k);
        if ((kl == n && memcmp(k, ex, n) == 0) || (kl == sn && memcmp(k, one, sn) == 0))
            return true;
        k += kl + (comma != NULL ? 1 : 0);
    }
    /* "beans" rules out "black beans, boiled"; very short words would rule
     * out half the table by accident, so they must match a keyword. */
    return sn >= 3 && contains_ci(f->name, one);
}

bool
plan_text_mentions(const char *text, const char *exclusion)
{
    char ex[WORD_MAX];
    size_t n = normalize(exclusion, ex, sizeof(ex));
    if (n == 0)
        return false;
    n = singular(ex, n);
    if (n >= 3)
        return contains_ci(text, ex);
    /* A short exclusion: whole words only. */
    char t[WORD_MAX];
    normalize(text, t, sizeof(t));
    for (char *w = t; *w != '\0';) {
        size_t wl = strcspn(w, " ,;/()-");
        if (wl == n && memcmp(w, ex, n) == 0)
            return true;
        w += wl;
        while (*w != '\0' && strchr(" ,;/()-", *w) != NULL)
            w++;
    }
    return false;
}

/* ---- diets for free text ---- */

static const char *const meat_words[] = {
    "chicken", "beef", "pork",    "turkey",     "lamb",  "bacon",    "ham",     "sausage",
    "steak",   "veal", "duck",    "venison",    "meat",  "salami",   "chorizo", "pepperoni",
    "mince",   "goat", "gelatin", "prosciutto", "jerky", "meatball", "burger",  NULL,
};
static const char *const fish_words[] = {
    "fish",   "salmon", "tuna",  "cod",     "shrimp",  "prawn",   "sardine", "mackerel",
    "trout",  "anchov", "crab",  "lobster", "tilapia", "halibut", "scallop", "mussel",
    "oyster", "clam",   "squid", "octopus", "seafood", "herring", "haddock", NULL,
};
static const char *const animal_words[] = {
    "egg",   "milk", "cheese", "yogurt",     "yoghurt", "butter", "cream",  "honey", "whey",
    "dairy", "ghee", "casein", "mayonnaise", "quark",   "kefir",  "paneer", NULL,
};
/* Words before a dairy word that make it a plant food ("soy milk"). */
static const char *const plant_qualifiers[] = {
    "soy", "soya",  "oat",   "almond", "coconut",  "rice",      "cashew", "peanut", "plant-based", "vegan",
    "nut", "apple", "cocoa", "pea",    "hazelnut", "sunflower", "seed",   "shea",   "plant",       NULL,
};
/* Words that contain an animal word but are plants. */
static const char *const plant_words[] = {"eggplant", "butternut", "buttercup", "cream of tartar", NULL};

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || c == '-';
}

/* Does the word that ends just before t[at] (skipping one space) appear in list? */
static bool
previous_word_in(const char *t, size_t at, const char *const *list)
{
    if (at < 2 || t[at - 1] != ' ')
        return false;
    size_t end = at - 1, start = end;
    while (start > 0 && is_alpha(t[start - 1]))
        start--;
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == end - start && memcmp(t + start, list[i], end - start) == 0)
            return true;
    return false;
}

/* Does t mention a word of list at the start of a word (so "cod" is not
 * found in "avocado")? With qualifiers, an occurrence preceded by one of
 * them does not count. */
static bool
mentions_word(const char *t, const char *const *list, const char *const *qualifiers)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        size_t wl = strlen(list[i]);
        for (const char *p = strstr(t, list[i]); p != NULL; p = strstr(p + 1, list[i])) {
            size_t at = (size_t)(p - t);
            if (at > 0 && is_alpha(t[at - 1]))
                continue;
            bool plant = false;
            for (size_t j = 0; plant_words[j] != NULL; j++) {
                const char *q = strstr(t, plant_words[j]);
                size_t ql = strlen(plant_words[j]);
                if (q != NULL && q <= p && p + wl <= q + ql)
                    plant = true;
            }
            if (plant || (qualifiers != NULL && previous_word_in(t, at, qualifiers)))
                continue;
            return true;
        }
    }
    return false;
}

bool
plan_text_violates_diet(const char *text, enum plan_diet diet)
{
    char t[WORD_MAX];
    normalize(text, t, sizeof(t));
    if (diet == PLAN_OMNIVORE)
        return false;
    if (mentions_word(t, meat_words, NULL))
        return true;
    if (diet == PLAN_PESCATARIAN)
        return false;
    if (mentions_word(t, fish_words, NULL))
        return true;
    if (diet == PLAN_VEGETARIAN)
        return false;
    return mentions_word(t, animal_words, plant_qualifiers);
}
