"""Camera placement planning: DORI ranges, coverage, feasibility, the optimiser, plan input and output, saved plans.

The math modules (`dori`, `coverage`, `feasibility`, `placement`, `plan_cost`,
`plan_input`, `plan_io`, `plan_report`) are pure functions of their arguments; `plans`
keeps solved plans in the inventory.
"""

__all__: list[str] = []
