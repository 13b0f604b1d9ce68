"""Fine-tuning: training set → LoRA training job → registered variant, behind one service.

Modules (none imports torch, transformers, peft or llama_cpp at import time):
- `service`        FineTuneService (`svc.finetune`): what the Fine-tune page and the CLI call;
- `dataset`        training-set types and files (save, load, list, review edits, export);
- `generation`     Q&A written by a model from a collection's chunks, the split by source;
- `qa_import`      Q&A imported from a CSV/JSONL file, split by source;
- `generation_job` the generation program, run as a background job;
- `jobs`           the training job's config and kind (on `core.base.jobs`);
- `train`          the training program (`python -m core.finetune.train --config CONFIG.json`);
- `hfmodel`        loading the base model's weights from a GGUF (cached as an HF folder);
- `lora_gguf`      PEFT adapter → llama.cpp LoRA GGUF;
- `merge`          LoRA merged into a copy of the base GGUF (for Ollama);
- `register`       variants on the embedded engine and on Ollama, listing and deleting them;
(`core/finetune_cli.py` holds the `python -m core finetune …` subcommands, over the service.)
"""
