"""The pieces the sitescout dashboards are built from (grafana-foundation-sdk builders): queries, panels, variables.

Queries name metrics only through :mod:`sitescout.probes.worker.metric_defs` (:func:`sel`,
:func:`recorded`); :mod:`sitescout.infra.dashboards` lays the panels out.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from sitescout.probes.worker import metric_defs as md

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
DATASOURCE_UID = "sitescout-prometheus"
#: The selector every per-device panel filters by (the dashboard's $site and $device variables).
SITE_DEVICE = 'site=~"$site",device=~"$device"'
GREY = "#8F8F8F"
#: Recording rules over whole sites (infra/prometheus/rules/sitescout-recording.yml).
SITE_OK = "sitescout:site_ok:ratio"
SITE_DEVICES = "sitescout:site_devices:count"
STREAM_OK = "sitescout:stream_ok"
#: Site health colours: red under half, orange from half, green when (nearly) everything works.
HEALTH_STEPS = [dm.Threshold(color="red", value=None), dm.Threshold(color="orange", value=0.5),
                dm.Threshold(color="green", value=0.999)]
#: A device cell's link to its camera dashboard (site, device, time range kept).
CAMERA_LINK = ("/d/sitescout-camera/sitescout-camera-detail?var-site=${site}&var-device=${__value.raw}"
               "&${__url_time_range}")
#: A site cell's link to its site dashboard (time range kept).
SITE_LINK = "/d/sitescout-site/sitescout-site-detail?var-site=${__value.raw}&${__url_time_range}"


def sel(d: md.MetricDef, matchers: str = SITE_DEVICE, suffix: str = "") -> str:
    """Return the PromQL selector of `d` (``suffix`` e.g. ``_bucket``) with `matchers`."""
    return f"{d.series(suffix)}{{{matchers}}}" if matchers else d.series(suffix)


def recorded(d: md.MetricDef, operation: str, level: str = "sitescout") -> str:
    """Return the recording rule name ``level:metric:operation`` of `d` (Prometheus's naming convention)."""
    return f"{level}:{d.name.removeprefix('sitescout_')}:{operation}"


def query(ref: str, expr: str, legend: str, fmt: pm.PromQueryFormat = pm.PromQueryFormat.TIME_SERIES,
          ) -> prometheus.Dataquery:
    """Return one range query of the dashboard's Prometheus."""
    return (prometheus.Dataquery().datasource(DATASOURCE).ref_id(ref).expr(expr).legend_format(legend).range()
            .format(fmt))


def fixed(color: str) -> dm.DynamicConfigValue:
    """Return an override property: a fixed colour."""
    return dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def prop(name: str, value: Any) -> dm.DynamicConfigValue:
    """Return an override property."""
    return dm.DynamicConfigValue(id_val=name, value=value)


def threshold_at(value: float) -> db.ThresholdsConfig:
    """Return green below `value`, red from it."""
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(color="green", value=None), dm.Threshold(color="red", value=value)])


#: 0/1 series shown as down (red) / up (green).
UP_DOWN = dm.ValueMap(options={"0": dm.ValueMappingResult(text="down", color="red", index=0),
                               "1": dm.ValueMappingResult(text="up", color="green", index=1)})
#: 0/1 series shown as no (red) / yes (green).
YES_NO = dm.ValueMap(options={"0": dm.ValueMappingResult(text="no", color="red", index=0),
                              "1": dm.ValueMappingResult(text="yes", color="green", index=1)})
#: Series labels a table leaves out.
NOT_SHOWN = {"Time": True, "job": True, "instance": True, "__name__": True}


def instant(ref: str, expr: str) -> prometheus.Dataquery:
    """Return one instant query as a table (for table panels)."""
    return (prometheus.Dataquery().datasource(DATASOURCE).ref_id(ref).expr(expr).legend_format("__auto").instant()
            .format(pm.PromQueryFormat.TABLE))


def grid(x: int, y: int, w: int, h: int) -> dm.GridPos:
    """Return a panel's place on the 24-column grid."""
    return dm.GridPos(x=x, y=y, w=w, h=h)


def merged_table(panel_id: int, title: str, description: str, pos: dm.GridPos, exprs: list[str],
                 hidden: dict[str, bool] | None = None, exclude: dict[str, bool] | None = None) -> table.Panel:
    """Return a table joining instant queries A, B, ... on their labels (one row per series).

    Columns left out: `exclude`, else NOT_SHOWN and `hidden`.
    """
    panel = (table.Panel().id(panel_id).title(title).description(description).datasource(DATASOURCE).grid_pos(pos)
             .show_header(True)
             .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
             .with_transformation(dm.DataTransformerConfig(id_val="organize", options={
                 "excludeByName": exclude if exclude is not None else {**NOT_SHOWN, **(hidden or {})}})))
    for ref, expr in zip("ABCDEFGH", exprs):
        panel.with_target(instant(ref, expr))
    return panel


def named(title: str, unit: str = "") -> list[dm.DynamicConfigValue]:
    """Return override properties giving a table column its title (and unit)."""
    return [prop("displayName", title), *([prop("unit", unit)] if unit else [])]


def red_green() -> db.ThresholdsConfig:
    """Return red below 1, green from 1 (for 0/1 series)."""
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(color="red", value=None), dm.Threshold(color="green", value=1)])


def by_thresholds() -> db.FieldColor:
    """Return the colour scheme: each value coloured by the thresholds."""
    return db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS)


def up_down_timeline(panel_id: int, title: str, description: str, pos: dm.GridPos, expr: str, legend: str,
                     more: tuple[tuple[str, str], ...] = (), mapping: dm.ValueMap = UP_DOWN) -> statetimeline.Panel:
    """Return a state timeline of 0/1 series (queries A and `more`): red 0, green 1, one row per series."""
    panel = statetimeline.Panel()
    for ref, (q, text) in zip("ABCDEFGH", ((expr, legend), *more)):
        panel.with_target(query(ref, q, text))
    return (panel.id(panel_id).title(title).description(description).datasource(DATASOURCE)
            .grid_pos(pos).mappings([mapping]).thresholds(red_green())
            .color_scheme(by_thresholds()).fill_opacity(80).line_width(0)
            .show_value(cm.VisibilityMode.NEVER).merge_values(True).row_height(0.8)
            .legend(cb.VizLegendOptions().show_legend(False))
            .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.SINGLE).sort(cm.SortOrder.NONE)))


def legend_table(calcs: tuple[str, ...] = ("mean", "max")) -> cb.VizLegendOptions:
    """Return a legend as a table right of the graph, with `calcs` per series."""
    return (cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.RIGHT).calcs(list(calcs)))


def tooltip_all() -> cb.VizTooltipOptions:
    """Return a tooltip listing every series at the cursor, in query order."""
    return cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE)


def lines(panel_id: int, title: str, description: str, pos: dm.GridPos,
          queries: tuple[tuple[str, str], ...]) -> timeseries.Panel:
    """Return a time series of queries A, B, ... ((expr, legend) each), legend as a list below."""
    panel = timeseries.Panel()
    for ref, (expr, legend) in zip("ABCDEFGH", queries):
        panel.with_target(query(ref, expr, legend))
    return (panel.id(panel_id).title(title).description(description).datasource(DATASOURCE).grid_pos(pos)
            .show_points(cm.VisibilityMode.NEVER).tooltip(tooltip_all())
            .legend(cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                    .placement(cm.LegendPlacement.BOTTOM)))


def latest(panel_id: int, title: str, description: str, pos: dm.GridPos, expr: str, legend: str,
           *more: tuple[str, str]) -> stat.Panel:
    """Return a stat of the latest value of instant queries A (`expr`) and `more` ((expr, legend) each), no graph."""
    panel = stat.Panel()
    for ref, (q, text) in zip("ABCDEFGH", ((expr, legend), *more)):
        panel.with_target(prometheus.Dataquery().datasource(DATASOURCE).ref_id(ref).expr(q).legend_format(text)
                          .instant().format(pm.PromQueryFormat.TIME_SERIES))
    return (panel.id(panel_id).title(title).description(description).datasource(DATASOURCE).grid_pos(pos)
            .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
            .graph_mode(cm.BigValueGraphMode.NONE))


def per_series(panel_id: int, title: str, description: str, pos: dm.GridPos, expr: str,
               legend: str = "{{device}}") -> timeseries.Panel:
    """Return a time series of one query, one line per device, legend as a table on the right."""
    return (timeseries.Panel().id(panel_id).title(title).description(description).datasource(DATASOURCE)
            .grid_pos(pos).with_target(query("A", expr, legend)).show_points(cm.VisibilityMode.NEVER)
            .legend(legend_table()).tooltip(tooltip_all()))


def variables(dash: db.Dashboard, presence: md.MetricDef, devices: str | None = "Device",
               many: bool = True, all_sites: bool = False) -> db.Dashboard:
    """Add $datasource, $site and (`devices`: its label) $device: devices of the chosen site (`many` at once).

    `all_sites`: $site takes several sites and starts at All.
    """
    dash.with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
                       .current(dm.VariableOption(selected=True, text="sitescout Prometheus", value=DATASOURCE_UID)))
    in_site = sel(presence, 'site=~"$site"')
    variables = (("site", "Site", f"label_values({presence.name}, site)", all_sites),
                 ("device", devices or "", f"label_values({in_site}, device)", many))
    for name, label, q, several in variables[:2 if devices else 1]:
        var = (db.QueryVariable(name).label(label).datasource(DATASOURCE).query({"query": q, "refId": f"var-{name}"})
               .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
               .multi(several).include_all(several))
        if several:
            var.all_value(".+")
        if name == "site" and all_sites:
            var.current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
        dash.with_variable(var)
    return dash


def dashboard(uid: str, title: str, description: str, tags: list[str]) -> db.Dashboard:
    """Return an empty sitescout dashboard: uid, title, tags, 6 h at 30 s refresh, the sitescout dashboard links."""
    return (db.Dashboard(f"sitescout — {title}").uid(uid).description(description).tags(["sitescout", *tags])
            .editable().tooltip(dm.DashboardCursorSync.CROSSHAIR).version(1).time("now-6h", "now").refresh("30s")
            .timezone("browser").live_now(False).week_start("")
            .annotation(db.AnnotationQuery().built_in(1)
                        .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
                        .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)").name("Annotations & Alerts")
                        .type("dashboard"))
            .link(db.DashboardLink("sitescout").type(dm.DashboardLinkType.DASHBOARDS)
                                      .tags(["sitescout"]).as_dropdown(True).include_vars(True).keep_time(True)
                                      .icon("external link")))


def sel_recorded(d: md.MetricDef, operation: str, matchers: str = SITE_DEVICE) -> str:
    """Return the selector of the recording rule of `d` for `operation`."""
    return f"{recorded(d, operation)}{{{matchers}}}"
