"""A local stand-in for football-data.org v4.

Run it as a process (``python -m devstack.standins.football_data --port=8082``, what the dev
Compose override and ``make run`` do), or in-process from the tests::

    with FootballDataStandin(requests_per_minute=10) as api:
        client = FootballDataClient(base_url=api.url, ...)

It serves matches shaped like the real API (``/v4/competitions/{code}/matches`` and
``/v4/matches``), generated deterministically around *now* so a demo always shows upcoming
fixtures and recent results: Premier League matches (finished, in play, timed, the odd
postponement) and FA Cup ties decided in extra time or on penalties. ``/v4/samples/{name}``
serves the recorded sample responses from tests/football_data/samples when that folder exists.
It checks ``X-Auth-Token``, enforces its own per-minute limit with the real 429 body and headers,
adds configurable latency, can be told to fail the next requests, and records every request.
``--now`` (or ``clock=``) sets the moment its calendar starts from, so a test can pin the date.
``--print-matches`` prints the matches around now as ``/v4/matches`` returns them, and exits:
demo data for the app (``manage.py football_data_demo --matches -``), with no server running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.standins import StandInServer, stop_on_sigterm

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "tests" / "football_data" / "samples"

AREA = {
    "id": 2072,
    "name": "England",
    "code": "ENG",
    "flag": "https://crests.football-data.org/770.svg",
}
COMPETITIONS: dict[str, dict[str, Any]] = {
    "PL": {"id": 2021, "name": "Premier League", "code": "PL", "type": "LEAGUE",
           "emblem": "https://crests.football-data.org/PL.png"},
    "FAC": {"id": 2055, "name": "FA Cup", "code": "FAC", "type": "CUP",
            "emblem": "https://crests.football-data.org/FAC.png"},
}  # fmt: skip
TEAMS = [
    (57, "Arsenal FC", "Arsenal", "ARS"),
    (58, "Aston Villa FC", "Aston Villa", "AVL"),
    (61, "Chelsea FC", "Chelsea", "CHE"),
    (62, "Everton FC", "Everton", "EVE"),
    (63, "Fulham FC", "Fulham", "FUL"),
    (64, "Liverpool FC", "Liverpool", "LIV"),
    (65, "Manchester City FC", "Man City", "MCI"),
    (66, "Manchester United FC", "Man United", "MUN"),
    (67, "Newcastle United FC", "Newcastle", "NEW"),
    (71, "Sunderland AFC", "Sunderland", "SUN"),
    (73, "Tottenham Hotspur FC", "Tottenham", "TOT"),
    (76, "Wolverhampton Wanderers FC", "Wolverhampton", "WOL"),
    (328, "Burnley FC", "Burnley", "BUR"),
    (341, "Leeds United FC", "Leeds United", "LEE"),
    (351, "Nottingham Forest FC", "Nottingham", "NOT"),
    (354, "Crystal Palace FC", "Crystal Palace", "CRY"),
    (397, "Brighton & Hove Albion FC", "Brighton Hove", "BHA"),
    (402, "Brentford FC", "Brentford", "BRE"),
    (563, "West Ham United FC", "West Ham", "WHU"),
    (1044, "AFC Bournemouth", "Bournemouth", "BOU"),
]
KICKOFFS = ((12, 30), (15, 0), (17, 30), (20, 0))
MATCH_LENGTH = timedelta(hours=2)


def _team(row: tuple[int, str, str, str]) -> dict[str, Any]:
    team_id, name, short, tla = row
    return {
        "id": team_id,
        "name": name,
        "shortName": short,
        "tla": tla,
        "crest": f"https://crests.football-data.org/{team_id}.png",
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _score(rng: random.Random, *, cup: bool) -> tuple[str, dict[str, Any]]:
    """A finished match's duration and score block, as football-data.org reports them."""
    home, away = rng.choice((0, 0, 1, 1, 1, 2, 2, 3)), rng.choice((0, 0, 1, 1, 2, 2, 3))
    half = {"home": min(home, rng.randint(0, 2)), "away": min(away, rng.randint(0, 1))}
    score: dict[str, Any] = {"duration": "REGULAR", "halfTime": half}
    full = {"home": home, "away": away}
    if cup and home == away:
        extra = {"home": rng.choice((0, 0, 1)), "away": rng.choice((0, 0, 1))}
        score["regularTime"] = {"home": home, "away": away}
        score["extraTime"] = extra
        full = {"home": home + extra["home"], "away": away + extra["away"]}
        score["duration"] = "EXTRA_TIME"
        if extra["home"] == extra["away"]:
            penalties = rng.choice(({"home": 4, "away": 3}, {"home": 2, "away": 4}))
            score["penalties"] = penalties
            score["duration"] = "PENALTY_SHOOTOUT"
            # As the real API does: fullTime includes the shoot-out goals.
            full = {
                "home": full["home"] + penalties["home"],
                "away": full["away"] + penalties["away"],
            }
    score["fullTime"] = full
    score["winner"] = (
        "HOME_TEAM"
        if full["home"] > full["away"]
        else "AWAY_TEAM"
        if full["away"] > full["home"]
        else "DRAW"
    )
    return score["duration"], score


def matches_on(day: date, code: str, now: datetime) -> list[dict[str, Any]]:
    """The matches of one competition on one day, the same on every call for the same ``now``."""
    rng = random.Random(f"{code}:{day.isoformat()}")  # noqa: S311  (demo data, not secrets)
    cup = code == "FAC"
    if cup:
        count = 2 if day.weekday() in (1, 2) else 0
    else:
        count = 4 if day.weekday() >= 5 else rng.choice((0, 2, 3))
    teams = rng.sample(TEAMS, 2 * count)
    matches = []
    for index in range(count):
        hour, minute = KICKOFFS[(index + day.toordinal()) % len(KICKOFFS)]
        kickoff = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        match_id = (700000 if cup else 900000) + (day.toordinal() % 10000) * 10 + index
        score: dict[str, Any] = {
            "winner": None,
            "duration": "REGULAR",
            "fullTime": {"home": None, "away": None},
            "halfTime": {"home": None, "away": None},
        }
        if match_id % 23 == 0:
            status = "POSTPONED"
        elif kickoff + MATCH_LENGTH <= now:
            status = "FINISHED"
            _duration, score = _score(random.Random(match_id), cup=cup)  # noqa: S311
        elif kickoff <= now:
            status = "IN_PLAY"
        else:
            status = "TIMED" if kickoff - now < timedelta(days=10) else "SCHEDULED"
        matches.append(
            {
                "area": AREA,
                "competition": COMPETITIONS[code],
                "season": {"id": 2403, "startDate": "2025-08-15", "endDate": "2026-05-24",
                           "currentMatchday": 31, "winner": None},
                "id": match_id,
                "utcDate": _iso(kickoff),
                "status": status,
                "matchday": None if cup else 1 + day.toordinal() % 38,
                "stage": "FIFTH_ROUND" if cup else "REGULAR_SEASON",
                "group": None,
                "lastUpdated": _iso(min(now, kickoff + MATCH_LENGTH)),
                "homeTeam": _team(teams[2 * index]),
                "awayTeam": _team(teams[2 * index + 1]),
                "score": score,
                "odds": {"msg": "Activate Odds-Package in User-Panel to retrieve odds."},
                "referees": [],
            }
        )  # fmt: skip
    return matches


def matches_between(
    codes: list[str], date_from: date, date_to: date, now: datetime, status: str | None = None
) -> list[dict[str, Any]]:
    matches = []
    day = date_from
    while day <= date_to:
        for code in codes:
            matches.extend(matches_on(day, code, now))
        day += timedelta(days=1)
    if status:
        wanted = set(status.split(","))
        matches = [m for m in matches if m["status"] in wanted]
    return sorted(matches, key=lambda m: (m["utcDate"], m["id"]))


def matches_payload(
    *, days_back: int, days_ahead: int, now: datetime | None = None
) -> dict[str, Any]:
    """Every competition's matches from ``days_back`` days before ``now`` to ``days_ahead``
    after, as ``/v4/matches`` answers (what ``football_data.services.matches_upsert`` takes)."""
    now = now or datetime.now(UTC)
    date_from = (now - timedelta(days=days_back)).date()
    date_to = (now + timedelta(days=days_ahead)).date()
    return {"matches": matches_between(list(COMPETITIONS), date_from, date_to, now)}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)
    status: int = 0


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FootballDataStandin:
    """The stand-in server. ``port=0`` picks a free port; ``url`` is the API base (…/v4)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        requests_per_minute: int | None = None,
        window: float = 60.0,
        token: str | None = None,
        clock: Callable[[], datetime] | None = None,
        log: bool = False,
    ) -> None:
        self.latency = latency
        self.requests_per_minute = requests_per_minute
        self.window = window
        self.token = token  # None: any non-empty token is accepted
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log = log
        self.requests: list[RecordedRequest] = []
        self.scripted: deque[Reply] = deque()
        self._served: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = StandInServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v4"

    def start(self) -> FootballDataStandin:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command-line entry point)."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FootballDataStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request with this reply (queued in order), e.g. a 500 or a 429."""
        self.scripted.append(Reply(status, body or {"message": "error", "errorCode": status},
                                   headers or {}))  # fmt: skip

    # --- request handling ---------------------------------------------------------------------

    def _quota(self) -> tuple[Reply | None, dict[str, str]]:
        """None and quota headers when the request may go on, else the 429 reply."""
        if not self.requests_per_minute:
            return None, {}
        now = time.monotonic()
        with self._lock:
            while self._served and self._served[0] <= now - self.window:
                self._served.popleft()
            if len(self._served) >= self.requests_per_minute:
                wait = max(1, round(self._served[0] + self.window - now))
                body = {
                    "message": f"You reached your request limit. Wait {wait} seconds.",
                    "errorCode": 429,
                }
                headers = {"X-Requests-Available-Minute": "0", "X-RequestCounter-Reset": str(wait)}
                return Reply(429, body, headers), {}
            self._served.append(now)
            left = self.requests_per_minute - len(self._served)
            reset = max(0, round(self._served[0] + self.window - now))
        return None, {
            "X-Requests-Available-Minute": str(left),
            "X-RequestCounter-Reset": str(reset),
        }

    def respond(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        record = RecordedRequest(method, parts.path, query, headers)
        with self._lock:
            self.requests.append(record)
        if self.latency:
            time.sleep(self.latency)
        reply = self._route(parts.path, query, headers)
        record.status = reply.status
        return reply

    def _route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        token = headers.get("x-auth-token")
        if not token or (self.token is not None and token != self.token):
            return Reply(403, {"message": "The resource you are looking for is restricted and "
                               "apparently not within your permissions. Please check your "
                               "subscription.", "errorCode": 403})  # fmt: skip
        if self.scripted:
            return self.scripted.popleft()
        limited, quota = self._quota()
        if limited is not None:
            return limited
        reply = self._resource(path, query)
        reply.headers.update(quota)
        return reply

    def _resource(self, path: str, query: dict[str, list[str]]) -> Reply:
        def arg(name: str) -> str | None:
            return query.get(name, [None])[0]

        now = self.clock()
        sample = re.fullmatch(r"/v4/samples/([\w.-]+\.json)", path)
        if sample:
            file = SAMPLES_DIR / sample.group(1)
            if file.is_file():
                return Reply(200, json.loads(file.read_text()))
            return _not_found()
        competition = re.fullmatch(r"/v4/competitions/(\w+)/matches", path)
        if competition or path == "/v4/matches":
            if competition:
                codes = [competition.group(1).upper()]
            else:
                codes = (arg("competitions") or ",".join(COMPETITIONS)).upper().split(",")
            if any(code not in COMPETITIONS for code in codes):
                return _not_found()
            try:
                date_from = date.fromisoformat(arg("dateFrom") or now.date().isoformat())
                date_to = date.fromisoformat(
                    arg("dateTo") or (date_from + timedelta(days=10)).isoformat()
                )
            except ValueError:
                return Reply(400, {"message": "Invalid date format.", "errorCode": 400})
            matches = matches_between(codes, date_from, date_to, now, arg("status"))
            body: dict[str, Any] = {
                "filters": {k: v[0] for k, v in query.items()},
                "resultSet": {"count": len(matches), "first": date_from.isoformat(),
                              "last": date_to.isoformat(),
                              "played": sum(m["status"] == "FINISHED" for m in matches)},
                "matches": matches,
            }  # fmt: skip
            if competition:
                body["competition"] = COMPETITIONS[codes[0]]
            return Reply(200, body)
        return _not_found()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = standin.respond("GET", self.path, headers)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                if standin.log:
                    super().log_message(format, *args)

        return Handler


def _not_found() -> Reply:
    return Reply(404, {"message": "The resource you are looking for does not exist.",
                       "errorCode": 404})  # fmt: skip


def running_from(moment: datetime) -> Callable[[], datetime]:
    """A clock that reads ``moment`` now and runs on at the real pace."""
    started = time.monotonic()
    return lambda: moment + timedelta(seconds=time.monotonic() - started)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. Z or +00:00")
    return moment.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  (reached from other containers)
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to each reply")
    parser.add_argument(
        "--requests-per-minute", type=int, default=10, help="the plan's limit; 0 turns it off"
    )
    parser.add_argument(
        "--now",
        type=_moment,
        help="the moment the calendar starts from (ISO 8601, e.g. 2026-12-31T23:50:00Z); "
        "it runs on from there. Default: the real time",
    )
    parser.add_argument(
        "--print-matches",
        action="store_true",
        help="print the matches of the 14 days either side of now as JSON, and exit",
    )
    args = parser.parse_args(argv)
    if args.print_matches:
        print(json.dumps(matches_payload(days_back=14, days_ahead=14, now=args.now)))
        return 0
    standin = FootballDataStandin(
        host=args.host,
        port=args.port,
        latency=args.latency,
        requests_per_minute=args.requests_per_minute or None,
        clock=running_from(args.now) if args.now else None,
        log=True,
    )
    stop_on_sigterm()
    print(f"football-data.org stand-in on {args.host}:{standin.port} (API base /v4)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        standin.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
