"""Every recipe on the user's own data, side by side on the same grouped folds (``vidclass compare``)."""

from vidclass.compare.main import Comparison, best_recipe, compare
from vidclass.compare.nested import NestedEstimate
from vidclass.compare.report import RecipeSummary, summarize, table_rows, write_reports
from vidclass.compare.run import CompareSettings, FoldResult, RecipeOutcome, grouped_folds, run_comparison

__all__ = ["CompareSettings", "Comparison", "NestedEstimate", "FoldResult", "RecipeOutcome", "RecipeSummary", "best_recipe", "compare",
           "grouped_folds", "run_comparison", "summarize", "table_rows", "write_reports"]
