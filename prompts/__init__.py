"""memcli's prompt templates (Markdown files), shipped inside the wheel as the package
``memcli.prompts``; memcli/services/prompts.py loads and fills them."""
