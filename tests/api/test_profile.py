"""The fitness profile: GET before and after PUT, the exact shape, replacement,
numbers with decimals, validation of every field (types, ranges, enums, dates,
unknown fields, several problems at once), bodies that are not JSON objects,
ETag/If-None-Match and If-Match, and one profile per user."""

import datetime

import pytest
import requests

from harness import RFC3339_MS_Z_RE, assert_problem
from helpers import BASE_ENV, auth, errors_of, new_token

PROFILE_URL = "/api/v1/profile"

PROFILE = {
    "sex": "female", "birth_date": "1992-04-10", "height_cm": 168, "weight_kg": 61.5,
    "activity_level": "moderate", "goal": "build_muscle", "experience": "intermediate",
    "days_per_week": 4, "session_minutes": 60, "equipment": "home_gym", "diet": "vegetarian",
    "meals_per_day": 4, "exclude_foods": ["peanuts", "Mushrooms"],
}
PROFILE_KEYS = set(PROFILE) | {"updated_at"}


def put_profile(srv, token, body, headers=None):
    return requests.put(srv.url + PROFILE_URL, json=body, headers=auth(token, headers), timeout=30)


def get_profile(srv, token, headers=None):
    return requests.get(srv.url + PROFILE_URL, headers=auth(token, headers), timeout=30)


def years_ago(n, days=0):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    try:
        d = today.replace(year=today.year - n)
    except ValueError:  # 29 February
        d = today.replace(year=today.year - n, day=28)
    return (d + datetime.timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env=BASE_ENV)


@pytest.fixture
def token(srv):
    return new_token(srv)


def test_get_without_profile_is_404(srv, token):
    assert_problem(get_profile(srv, token), 404, "not_found")


def test_put_then_get_exact_shape(srv, token):
    r = put_profile(srv, token, PROFILE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == PROFILE_KEYS
    for k, v in PROFILE.items():
        assert body[k] == v, k
    assert RFC3339_MS_Z_RE.match(body["updated_at"])
    assert r.headers["ETag"].startswith('W/"f')
    g = get_profile(srv, token)
    assert g.status_code == 200
    assert g.json() == body
    assert g.headers["ETag"] == r.headers["ETag"]
    # If-None-Match with the tag: 304
    nm = get_profile(srv, token, {"If-None-Match": g.headers["ETag"]})
    assert nm.status_code == 304


def test_put_replaces_and_accepts_its_own_output(srv, token):
    first = put_profile(srv, token, PROFILE).json()
    second = dict(first, weight_kg=59, exclude_foods=[], diet="vegan")  # updated_at sent back, ignored
    r = put_profile(srv, token, second)
    assert r.status_code == 200, r.text
    got = get_profile(srv, token).json()
    assert got["weight_kg"] == 59 and got["exclude_foods"] == [] and got["diet"] == "vegan"
    assert got["updated_at"] >= first["updated_at"]


def test_exclude_foods_defaults_to_empty(srv, token):
    body = {k: v for k, v in PROFILE.items() if k != "exclude_foods"}
    r = put_profile(srv, token, body)
    assert r.status_code == 200, r.text
    assert r.json()["exclude_foods"] == []


@pytest.mark.parametrize("field,value", [
    ("height_cm", 100), ("height_cm", 250), ("height_cm", 180.25), ("weight_kg", 30), ("weight_kg", 300),
    ("weight_kg", 72.5), ("days_per_week", 1), ("days_per_week", 7), ("session_minutes", 20),
    ("session_minutes", 180), ("meals_per_day", 2), ("meals_per_day", 6), ("birth_date", None),
])
def test_boundaries_accepted(srv, token, field, value):
    if field == "birth_date":
        for v in (years_ago(13), years_ago(120, days=1)):
            r = put_profile(srv, token, dict(PROFILE, birth_date=v))
            assert r.status_code == 200, (v, r.text)
        return
    r = put_profile(srv, token, dict(PROFILE, **{field: value}))
    assert r.status_code == 200, r.text
    assert r.json()[field] == value


BAD = [
    ("sex", "other", "not_allowed"), ("sex", 1, "wrong_type"), ("sex", None, "null_not_allowed"),
    ("birth_date", "1990-02-30", "invalid_date"), ("birth_date", "10/04/1992", "invalid_date"),
    ("birth_date", 19920410, "wrong_type"),
    ("height_cm", 99, "out_of_range"), ("height_cm", 99.99, "out_of_range"), ("height_cm", 250.01, "out_of_range"),
    ("height_cm", "180", "wrong_type"), ("height_cm", True, "wrong_type"),
    ("weight_kg", 29.5, "out_of_range"), ("weight_kg", 301, "out_of_range"), ("weight_kg", [70], "wrong_type"),
    ("activity_level", "couch", "not_allowed"), ("goal", "bulk", "not_allowed"),
    ("experience", "expert", "not_allowed"), ("equipment", "gym", "not_allowed"), ("diet", "keto", "not_allowed"),
    ("days_per_week", 0, "out_of_range"), ("days_per_week", 8, "out_of_range"), ("days_per_week", 3.5, "wrong_type"),
    ("days_per_week", "3", "wrong_type"),
    ("session_minutes", 19, "out_of_range"), ("session_minutes", 181, "out_of_range"),
    ("meals_per_day", 1, "out_of_range"), ("meals_per_day", 7, "out_of_range"),
    ("exclude_foods", "nuts", "wrong_type"), ("exclude_foods", [1], "invalid_item"),
    ("exclude_foods", [""], "invalid_item"), ("exclude_foods", ["x" * 101], "invalid_item"),
    ("exclude_foods", [f"food{i}" for i in range(51)], "too_many"), ("exclude_foods", None, "null_not_allowed"),
]


@pytest.mark.parametrize("field,value,code", BAD, ids=[f"{f}={v!r}"[:40] for f, v, _ in BAD])
def test_field_validation(srv, token, field, value, code):
    r = put_profile(srv, token, dict(PROFILE, **{field: value}))
    assert (field, code) in errors_of(r), r.text
    # nothing was stored
    assert get_profile(srv, token).status_code == 404


@pytest.mark.parametrize("when", ["future", "too_young", "too_old"])
def test_birth_date_range(srv, token, when):
    value = {"future": years_ago(-1), "too_young": years_ago(12), "too_old": years_ago(121)}[when]
    r = put_profile(srv, token, dict(PROFILE, birth_date=value))
    assert ("birth_date", "out_of_range") in errors_of(r)


@pytest.mark.parametrize("field", sorted(PROFILE.keys() - {"exclude_foods"}))
def test_required_fields(srv, token, field):
    body = {k: v for k, v in PROFILE.items() if k != field}
    assert (field, "required") in errors_of(put_profile(srv, token, body))


def test_unknown_fields_and_several_errors_at_once(srv, token):
    r = put_profile(srv, token, dict(PROFILE, age=30, sex="x", meals_per_day=9))
    errs = errors_of(r)
    assert {("age", "unknown_field"), ("sex", "not_allowed"), ("meals_per_day", "out_of_range")} <= errs


def test_bodies_that_are_not_profiles(srv, token):
    h = auth(token, {"Content-Type": "application/json"})
    r = requests.put(srv.url + PROFILE_URL, data="[1, 2]", headers=h, timeout=10)
    assert_problem(r, 400, "malformed_json")
    r = requests.put(srv.url + PROFILE_URL, data='{"sex": "female",', headers=h, timeout=10)
    assert_problem(r, 400, "malformed_json")
    r = requests.put(srv.url + PROFILE_URL, data="sex=female", timeout=10,
                     headers=auth(token, {"Content-Type": "application/x-www-form-urlencoded"}))
    assert_problem(r, 415, "unsupported_media_type")
    big = '{"sex": "' + "a" * (1024 * 1024 + 10) + '"}'
    r = requests.put(srv.url + PROFILE_URL, data=big, headers=h, timeout=30)
    assert_problem(r, 413, "body_too_large")


def test_requires_a_token(srv):
    assert_problem(requests.get(srv.url + PROFILE_URL, timeout=10), 401, "unauthorized")
    assert_problem(requests.put(srv.url + PROFILE_URL, json=PROFILE, timeout=10), 401, "unauthorized")
    assert_problem(requests.get(srv.url + PROFILE_URL, headers={"Authorization": "Bearer nope"}, timeout=10),
                   401, "unauthorized")


def test_if_match(srv, token):
    # No profile: nothing matches, not even *.
    assert_problem(put_profile(srv, token, PROFILE, {"If-Match": "*"}), 412, "precondition_failed")
    first = put_profile(srv, token, PROFILE)
    tag = first.headers["ETag"]
    second = put_profile(srv, token, dict(PROFILE, weight_kg=62), {"If-Match": tag})
    assert second.status_code == 200, second.text
    # The first tag is stale now.
    assert_problem(put_profile(srv, token, dict(PROFILE, weight_kg=63), {"If-Match": tag}), 412,
                   "precondition_failed")
    assert get_profile(srv, token).json()["weight_kg"] == 62
    ok = put_profile(srv, token, dict(PROFILE, weight_kg=64), {"If-Match": "*"})
    assert ok.status_code == 200
    assert ok.headers["ETag"] != second.headers["ETag"]


def test_one_profile_per_user(srv, token):
    assert put_profile(srv, token, PROFILE).status_code == 200
    other = new_token(srv)
    assert_problem(get_profile(srv, other), 404, "not_found")
    assert put_profile(srv, other, dict(PROFILE, sex="male")).status_code == 200
    assert get_profile(srv, token).json()["sex"] == "female"
    assert get_profile(srv, other).json()["sex"] == "male"
