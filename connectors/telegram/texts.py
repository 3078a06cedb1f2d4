"""What the Telegram channel itself says (commands, help, privacy), in plain German, Sie-Form."""

from __future__ import annotations

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Begrüßung und Beispiele"),
    ("hilfe", "Was der Bot kann und wie Sie ihn nutzen"),
    ("abo", "Warnungen und Neuigkeiten abonnieren"),
    ("meine", "Ihre Abos ansehen und abbestellen"),
    ("stop", "Alle Abos beenden und Ihre Daten löschen"),
    ("datenschutz", "Was gespeichert wird und wie lange"),
)

START = (
    "Guten Tag! Ich bin der digitale Assistent der Stadt Koblenz.\n\n"
    "Fragen Sie mich zu Anliegen bei der Stadtverwaltung, zum Beispiel: „Was kostet ein Reisepass?“ oder "
    "„Wie melde ich Sperrmüll an?“ Ich nenne Kosten, Unterlagen und Zuständigkeit und verlinke die "
    "Online-Dienste.\n\n"
    "Mit /abo erhalten Sie Warnungen und Neuigkeiten der Stadt, auf Wunsch nur für Ihren Stadtteil. "
    "/hilfe zeigt alle Befehle, /datenschutz erklärt, was gespeichert wird."
)

HELP = (
    "So nutzen Sie den Bot der Stadt Koblenz:\n\n"
    "• Schreiben Sie Ihre Frage einfach als Nachricht, etwa „Personalausweis beantragen“ oder „Wann hat "
    "das Bürgeramt auf?“. Über die Schaltflächen kommen Sie zu Kosten, Unterlagen, Terminen und "
    "Online-Diensten.\n"
    "• /abo – Warnungen, Gesundheitsinformationen, Pressemitteilungen, Verkehrsmeldungen oder "
    "Veranstaltungen abonnieren; Warnungen und Verkehr auch nur für bestimmte Stadtteile. Sie können es "
    "auch schreiben: „Ich will Hochwasserwarnungen für Güls“.\n"
    "• /meine – Ihre Abos ansehen und einzeln abbestellen\n"
    "• /stop – alle Abos beenden und alles löschen, was zu diesem Chat gespeichert ist\n"
    "• /datenschutz – was gespeichert wird, wozu und wie lange\n\n"
    "In Gruppen antworte ich nur, wenn Sie mich mit @-Namen ansprechen, auf meine Nachricht antworten oder "
    "einen Befehl senden. Abos verwalten Sie im privaten Chat mit mir.\n\n"
    "Wenn ich nicht weiterweiß, nenne ich Ihnen einen Kontakt in der Stadtverwaltung. Amtliche Warnungen "
    "kommen außerdem über die Warn-App NINA."
)


def privacy(retention_days: int) -> str:
    return (
        "Datenschutz im Telegram-Bot der Stadt Koblenz\n\n"
        "Was wir speichern und wozu:\n"
        "• Wenn Sie etwas abonnieren: Ihre Telegram-Chat-ID, die gewählten Themen und Stadtteile und wann "
        "Sie sich angemeldet haben. Die Chat-ID brauchen wir, um Ihnen die Nachrichten zu schicken. Ihren "
        "Namen, Ihre Telefonnummer oder Ihren Standort speichern wir nicht.\n"
        "• Ihre Fragen und unsere Antworten: nur unter einem Pseudonym, nicht unter Ihrer Chat-ID. "
        "E-Mail-Adressen, Telefonnummern und IBANs werden vorher entfernt. Das Gespräch dient dazu, "
        "Rückfragen zu verstehen („und was kostet das?“) und den Bot zu verbessern.\n\n"
        "Wie lange:\n"
        f"• Gespräche werden {retention_days} Tage nach Ihrer letzten Nachricht gelöscht.\n"
        "• Abos bleiben gespeichert, bis Sie sie abbestellen. Blockieren Sie den Bot, schicken wir nichts "
        f"mehr und löschen Ihre Abo-Daten nach {retention_days} Tagen.\n"
        "• /stop löscht sofort alle Abos und das gespeicherte Gespräch dieses Chats.\n\n"
        "Telegram selbst verarbeitet Ihre Nachrichten nach seinen eigenen Datenschutzbestimmungen; darauf hat "
        "die Stadt keinen Einfluss. Mehr zum Datenschutz bei der Stadt Koblenz erfahren Sie auf koblenz.de "
        "oder über die Behördennummer 115."
    )


STOPPED = (
    "Erledigt: Alle Ihre Abos sind beendet, und wir haben alles gelöscht, was zu diesem Chat gespeichert "
    "war (Chat-ID, Themen, Stadtteile und das Gespräch). Wenn Sie mir wieder schreiben, beginnt ein neues "
    "Gespräch. Mit /abo können Sie jederzeit wieder etwas abonnieren."
)
NOTHING_STORED = (
    "Zu diesem Chat war nichts gespeichert, also gibt es auch nichts zu löschen. Mit /abo können Sie "
    "Warnungen und Neuigkeiten abonnieren."
)
PRIVATE_ONLY = (
    "Abos verwalte ich nur im privaten Chat, damit niemand in der Gruppe Ihre Auswahl sieht. Bitte "
    "schreiben Sie mir direkt."
)
UNKNOWN_COMMAND = "Diesen Befehl kenne ich nicht. Eine Übersicht bekommen Sie mit /hilfe."
UNKNOWN_START = (
    "Diesen Link kenne ich leider nicht (mehr). Schreiben Sie mir einfach Ihr Anliegen, zum Beispiel "
    "„Personalausweis beantragen“."
)
TEXT_ONLY = (
    "Ich kann leider nur Textnachrichten lesen. Bitte schreiben Sie mir Ihre Frage, zum Beispiel "
    "„Wie melde ich Sperrmüll an?“"
)
TOO_FAST = "Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment, dann antworte ich wieder."
ERROR = "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es gleich noch einmal."
STALE_BUTTON = "Diese Schaltfläche ist nicht mehr gültig. Bitte fangen Sie mit /abo oder /meine neu an."
