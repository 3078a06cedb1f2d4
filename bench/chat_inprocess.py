"""The bot's own cost per answer, without Rasa and HTTP: ChatService.chat with a constant parser and the
real conversation store on SQLite. Prints JSON. Usage: .venv/bin/python bench/chat_inprocess.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bot.chat import ChatService
from bot.conversations import ConversationStore
from bot.dialogue import Dialogue
from bot.search import CatalogSearch
from catalog.model import load_catalog
from core.alerts import StaticAlerts
from core.db import create_engine, migrate, sessionmaker
from core.paths import PROJECT_ROOT as ROOT
from nlu.client import ParseResult


class ConstantParser:
    async def parse(self, text: str) -> ParseResult:
        return ParseResult(text, "service_reisepass", 0.93, (("service_reisepass", 0.93),), ())


async def main(n: int) -> dict[str, object]:
    catalog = load_catalog(ROOT / "data")
    engine = create_engine(f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    await migrate(engine)
    dialogue = Dialogue(catalog, CatalogSearch(catalog), ConstantParser(), StaticAlerts())
    results = {}
    for label, store in (("with_store", ConversationStore(sessionmaker(engine))), ("without_store", None)):
        chat = ChatService(dialogue, store, "bench-key")
        for i in range(20):
            await chat.chat("web", f"warm-{i}", "Was kostet ein Reisepass?")
        started = time.perf_counter()
        for i in range(n):
            await chat.chat("web", f"conversation-{i % 50}", "Was kostet ein Reisepass?")
        results[label] = round((time.perf_counter() - started) / n * 1000, 2)
    await engine.dispose()
    return {"benchmark": "chat_inprocess", "answers": n, "ms_per_answer": results}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))))
