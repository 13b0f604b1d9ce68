"""Fine-tuning pipeline: training set → LoRA training job → registered variant.

Modules (none imports torch, transformers, peft or llama_cpp at import time):
- `formats`   the prompt format shared by training and the chat's `finetuned` mode;
- `dataset`   Q&A generation or import, the split by source chunk, JSONL files;
- `train`     the training program (`python -m core.finetune.train --config CONFIG.json`);
- `jobs`      start / watch / cancel training jobs as detached subprocesses, one at a time;
- `hfmodel`   loading the base model's weights from a GGUF (cached as an HF folder);
- `lora_gguf` PEFT adapter → llama.cpp LoRA GGUF, and its validation;
- `merge`     LoRA merged into a copy of the base GGUF (for Ollama);
- `register`  variants on the embedded engine and on Ollama, listing and deleting them;
- `cli`       the `python -m core finetune …` subcommands.
"""
