"""The search evaluation set: a 17-skill library written here (modelled on the kinds of skills public
libraries ship) and natural queries, each with the skill that must rank first.

Used by tests/test_skills_search.py (every query must hit) and `just bench-skills` (prints the rate).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.skillfiles import write_skill

SKILLS: dict[str, tuple[str, str]] = {
    "pptx": (
        "Presentation creation, editing and analysis for .pptx decks: slides, layouts, speaker notes.",
        "# Decks\n\nUse python-pptx to add slides, set the slide master and layouts, insert charts and "
        "images, and write speaker notes. Render thumbnails to check the result visually.",
    ),
    "docx": (
        "Create and edit Word documents (.docx): tracked changes, comments, styles and formatting.",
        "# Documents\n\nUnpack the document XML, keep tracked changes (redlining) intact, add comments, "
        "and use styles rather than direct formatting. Convert to PDF to check the layout.",
    ),
    "xlsx": (
        "Work with spreadsheets (.xlsx, .csv, .tsv): formulas, formatting, charts and data analysis.",
        "# Spreadsheets\n\nUse openpyxl for formulas and formatting, pandas for analysis of tabular data. "
        "Recalculate formulas and check there are no #REF! errors before handing the file back.",
    ),
    "pdf": (
        "Extract text and tables from PDF files, fill PDF forms, merge and split documents.",
        "# PDF\n\nUse pypdf to merge, split and rotate pages; pdfplumber to extract tables; fill form "
        "fields by name and flatten them. OCR scanned pages first.",
    ),
    "webapp-testing": (
        "Toolkit for testing local web applications with Playwright: drive the browser, capture "
        "screenshots, read console logs.",
        "# Testing\n\nStart the dev server, then write a Playwright script that waits for network idle, "
        "inspects the rendered DOM, clicks through the flow and saves screenshots.",
    ),
    "frontend-design": (
        "Create distinctive, production-grade frontend interfaces with high design quality, when asked "
        "to build web components, pages or applications (websites, landing pages, dashboards, React "
        "components, HTML/CSS layouts) or to style any web UI.",
        "# Frontend\n\nChoose a bold aesthetic direction, distinctive typography and a cohesive colour "
        "system. Build responsive layouts with real content, motion and attention to detail.",
    ),
    "web-artifacts-builder": (
        "Build elaborate multi-component HTML artifacts with React, Tailwind CSS and shadcn/ui.",
        "# Artifacts\n\nInitialise the project with the script, develop components, then bundle "
        "everything into a single HTML file that can be shared.",
    ),
    "mcp-builder": (
        "Guide for creating MCP servers that let models use external services through well-designed tools.",
        "# MCP servers\n\nStudy the API, plan the tools, implement them with the Python or TypeScript "
        "SDK, then write evaluations that exercise the server with realistic questions.",
    ),
    "skill-creator": (
        "Guide for creating effective skills, when a user wants to create a new skill or update one "
        "that extends the agent with specialised knowledge, workflows and tool integrations.",
        "# Skills\n\nStart from concrete examples, plan reusable scripts and references, write "
        "SKILL.md with a clear description, then package and iterate.",
    ),
    "canvas-design": (
        "Create beautiful visual art in .png and .pdf documents using a design philosophy: posters, "
        "artwork and other static pieces.",
        "# Canvas\n\nWrite a short design philosophy first, then express it visually on the canvas "
        "with composition, colour and form. Minimal text.",
    ),
    "algorithmic-art": (
        "Create generative art with p5.js using seeded randomness, flow fields and particle systems.",
        "# Generative\n\nWrite an algorithmic philosophy, then implement it as an interactive p5.js "
        "sketch with seed controls and parameters.",
    ),
    "brand-guidelines": (
        "Apply the company's official brand colours and typography to any artifact that should "
        "follow the house look-and-feel.",
        "# Brand\n\nPrimary colours, accent colours, heading and body fonts, and how to apply them "
        "to shapes and text.",
    ),
    "internal-comms": (
        "Write internal communications: status reports, leadership updates, company newsletters, "
        "incident reports and FAQs.",
        "# Comms\n\nPick the matching format guide (3P updates, newsletter, FAQ), gather the facts, "
        "and keep it short and scannable.",
    ),
    "slack-gif-creator": (
        "Create animated GIFs optimised for Slack, within its size and frame constraints.",
        "# GIFs\n\nCompose frames with the animation helpers, keep emoji GIFs small, and validate the "
        "file size before uploading.",
    ),
    "theme-factory": (
        "Style artifacts with a theme: ten preset colour and font themes for reports, documents and "
        "landing pages, or a new theme on the fly.",
        "# Themes\n\nShow the theme showcase, let the user choose, then apply the colours and fonts "
        "consistently.",
    ),
    "doc-coauthoring": (
        "Guide users through co-authoring documentation: proposals, technical specs and decision docs.",
        "# Co-authoring\n\nGather context, refine the structure section by section, then test the "
        "document with a fresh reader.",
    ),
    "template-skill": (
        "Replace with a description of what the skill does and when to use it.",
        "# Template\n\nReplace this text with instructions.",
    ),
}

# Query -> the skill that must rank first. The first three are the misses reported in issue 12.
QUERIES: dict[str, str] = {
    "make a powerpoint": "pptx",
    "test my web app with playwright": "webapp-testing",
    "build a landing page": "frontend-design",
    "make a presentation about our roadmap": "pptx",
    "add speaker notes to my slides": "pptx",
    "take screenshots of my webapp in the browser": "webapp-testing",
    "design a dashboard UI for our website": "frontend-design",
    "fill out a pdf form": "pdf",
    "merge two PDFs": "pdf",
    "track changes in a word document": "docx",
    "edit a .docx file": "docx",
    "excel formulas for a budget spreadsheet": "xlsx",
    "analyse a csv file": "xlsx",
    "create an mcp server for the github api": "mcp-builder",
    "write a new skill": "skill-creator",
    "generative art with p5.js": "algorithmic-art",
    "make a poster": "canvas-design",
    "apply our brand colors": "brand-guidelines",
    "write a status update for leadership": "internal-comms",
    "animated gif for slack": "slack-gif-creator",
    "build a react artifact with tailwind": "web-artifacts-builder",
    "co-author a technical spec": "doc-coauthoring",
    "newsletter for the team": "internal-comms",
    "extracting tables from a scanned report": "pdf",
    "recalculating formulas after an edit": "xlsx",
    "an excel chart of monthly sales": "xlsx",
    "keynote deck for the board": "pptx",
    "testing the checkout flow of our webapp": "webapp-testing",
    "styling a report with preset fonts": "theme-factory",
    "designing generative particle flows": "algorithmic-art",
}


def write_library(root: Path) -> Path:
    for name, (description, body) in SKILLS.items():
        # Quoted: several descriptions contain ': ', which plain YAML would read as a mapping.
        write_skill(root, name, description=json.dumps(description), body=body + "\n")
    return root


def top1_rate(search: object) -> tuple[int, int, list[tuple[str, str, str | None]]]:
    """(hits, total, misses as (query, wanted, got)) for a `search(query, limit)` callable."""
    misses = []
    for query, wanted in QUERIES.items():
        results = search(query, 5)  # type: ignore[operator]
        got = results[0][0] if results else None
        if got != wanted:
            misses.append((query, wanted, got))
    return len(QUERIES) - len(misses), len(QUERIES), misses
