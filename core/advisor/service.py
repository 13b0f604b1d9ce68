"""The advisor service: what the Advisor page and `python -m core advise` call.

It reads the evidence (the newest finished grid run, or the one named, and the newest document-update test), costs
the team's volume on the rates this data directory measured, weighs both with the team's answers, works out what
would change the recommendation, and writes the report in Markdown and in self-contained HTML.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.advisor.advice import (
    APPROACHES,
    ARM_OF,
    Advice,
    ArmScore,
    Criteria,
    Evidence,
    SureAnswers,
    VariantRecipe,
    advise,
    comparisons_from_summary,
    confidence_from_summary,
    evidence_from_summary,
    newest_finished_run,
    report_markdown,
    run_settings,
    sources_from_summary,
    update_evidence_from_result,
    what_would_change,
)
from core.advisor.costs import CostTable, MeasuredRates, Volume, cost_moves, costs_markdown, measured_rates, project
from core.advisor.report_html import report_html
from core.errors import AppError
from core.evaluation.document_update import latest_result
from core.evaluation.runs import SavedRun, threshold_text
from core.evaluation.service import EvaluationService
from core.evaluation.statistics import PairedComparison
from core.library.catalog import Catalog


@dataclass(frozen=True)
class Advised:
    """One piece of advice with what it was based on, its cost table, what would change it, and its reports."""

    criteria: Criteria
    evidence: Evidence
    advice: Advice
    markdown: str
    html: str = ""
    costs: CostTable | None = None  # None: the team gave no volume
    would_change: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `python -m core advise` prints)."""
        evidence = asdict(self.evidence)
        # each comparison as saved with its run: with its verdict and its sentence
        evidence["comparisons"] = [c.to_dict() for c in self.evidence.comparisons]
        out = {
            "criteria": asdict(self.criteria),
            "evidence": evidence,
            "advice": self.advice.to_dict(),
            "would_change": list(self.would_change),
        }
        if self.costs is not None:
            out["costs"] = self.costs.to_dict()
            out["cost_basis"] = self.costs.basis()
        return out


class AdvisorService:
    """What the Advisor page and `python -m core advise` call: the latest evidence, the costs, the advice, reports."""

    def __init__(self, data_dir: Path, evaluation: EvaluationService | None, catalog: Catalog | None = None) -> None:
        self.data_dir = data_dir
        self.evaluation = evaluation  # the evaluation service that keeps the grid runs
        self.catalog = catalog  # the documents' pages and chunks per MB, for the cost rates

    def latest_evidence(self, run_id: str | None = None) -> Evidence:
        """The newest finished grid run (or `run_id`) and the newest document-update test, as evidence."""
        scores: tuple[ArmScore, ...] = ()
        comparisons: tuple[PairedComparison, ...] = ()
        label = ""
        wanted = run_id or newest_finished_run(self.data_dir)
        settings = None
        counts: dict[str, dict[str, dict[str, int]]] = {}
        said: dict[str, str] = {}
        sure: dict[str, SureAnswers] = {}
        variants: dict[str, VariantRecipe] = {}
        run_variant = ""
        if wanted and self.evaluation is not None:
            run = self.evaluation.load_run(wanted)
            scores = evidence_from_summary(run.summary)
            comparisons = comparisons_from_summary(run.summary)
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(run.config.created or 0)))
            label = f"run {wanted}, {created}, {run.config.question_set or 'questions'}, {run.config.engine} engine"
            settings = run_settings(self.data_dir, wanted)
            threshold = run.summary.get("confidence_threshold") or {}
            if settings is not None and threshold.get("value") is not None:
                settings = replace(
                    settings, confidence_threshold=threshold_text(float(threshold["value"]), str(threshold["from"]))
                )
            counts, said = sources_from_summary(run.summary)
            sure = confidence_from_summary(run.summary)
            run_variant = run.config.variant_name
            variants = self._recipes(run)
        saved = latest_result(self.data_dir)
        return Evidence(
            scores,
            label,
            update_evidence_from_result(saved) if saved else None,
            comparisons,
            settings,
            sources=counts,
            diagnosis=said,
            confidence=sure,
            run_variant=run_variant,
            variants=variants,
        )

    def _recipes(self, run: SavedRun) -> dict[str, VariantRecipe]:
        """The variants the run scored with their recipes, as the Evaluate page lists them."""
        if self.evaluation is None:
            return {}
        try:
            found = self.evaluation.variant_recipes(run)
        except AppError:
            return {}  # an unreadable variant registry leaves the recipes out, not the advice
        return {name: VariantRecipe(name, recipe, line) for name, (recipe, line) in found.items()}

    def rates(self, run_id: str | None = None, evidence: Evidence | None = None) -> MeasuredRates:
        """The rates this data directory measured (answer times from the advice's run, of the variants `evidence`
        weighs when a run scored several), else named estimates."""
        arms = {ARM_OF[a]: evidence.arm_for(a) for a in APPROACHES if evidence.arms_of(a)} if evidence else None
        return measured_rates(self.data_dir, self.catalog, run_id, arms)

    def costs(self, volume: Volume, run_id: str | None = None) -> CostTable:
        """What each approach costs the team a month for `volume`, on the rates measured here (`run_id`'s answer
        times; default the newest finished run, the one the advice reads)."""
        return project(volume, self.rates(run_id))

    def _hidden(self, advice: Advice, run_id: str | None) -> Advice:
        """With the measurements switched off, the advice says which ones exist and are not weighed, instead of
        asking for runs that were made."""
        there = self.latest_evidence(run_id)
        made = [f"the grid ({there.run})"] if there.scores else []
        made += ["the document-update test"] if there.update is not None else []
        if not made:
            return advice
        note = (
            f"The measurements are switched off: {' and '.join(made)} exist{'s' if len(made) == 1 else ''} but "
            f"{'is' if len(made) == 1 else 'are'} not weighed. Switch on 'Weigh in the latest measurements' "
            "(or leave out --no-evidence) to use them."
        )
        return replace(
            advice,
            missing=[note],
            summary=advice.summary.replace("no measurement moved it yet", "the measurements are switched off"),
        )

    def advise(
        self, criteria: Criteria, run_id: str | None = None, use_evidence: bool = True, volume: Volume | None = None
    ) -> Advised:
        """The advice for `criteria` with the latest evidence (or none) and, given a volume, its costs; and reports.

        The volume is costed with the criteria's change frequency and labelled pairs, whatever it says itself.
        """
        evidence = self.latest_evidence(run_id) if use_evidence else Evidence()
        rates = self.rates(run_id, evidence) if volume is not None else None

        def costed(c: Criteria) -> tuple[Advice, CostTable | None]:
            if volume is None or rates is None:
                return advise(c, evidence), None
            # the volume changes as often as the team says its data does (criterion 2), and the variant trains on the
            # team's labelled pairs (criterion 4; none: on pairs the app generates): one answer each, not two
            table = project(
                replace(volume, data_changes=c.data_changes, training_pairs=c.labelled_pairs or None), rates
            )
            return advise(c, evidence, cost_moves(c, table)), table

        advice, table = costed(criteria)
        if not use_evidence:
            advice = self._hidden(advice, run_id)
        would_change = tuple(what_would_change(criteria, advice, lambda c: costed(c)[0]))
        when = time.strftime("%Y-%m-%d %H:%M")
        markdown = report_markdown(
            criteria, evidence, advice, when, costs_markdown(table) if table else "", would_change
        )
        html = report_html(criteria, evidence, advice, would_change, table, when)
        return Advised(criteria, evidence, advice, markdown, html, table, would_change)
