"""One package per outside system (Telegram, web widget, feeds, ...); inbound → events, outbound → publishers."""
