"""Grafana dashboards built with grafana-foundation-sdk (Grafana's typed builders), queries from the metric definitions.

Every metric a panel queries is named through :mod:`sitescout.probes.worker.metric_defs`
(or a recording rule derived from one, :func:`~sitescout.infra.dashboard_parts.recorded`),
so a renamed metric cannot leave a panel behind.  The JSON stays committed under
``infra/grafana/dashboards`` (Grafana provisions it from there); a test checks
it equals what this module builds.  Regenerate after a change, from the checkout::

    python -m sitescout.infra.dashboards infra/grafana/dashboards

Needs the ``dashboards`` extra (``pip install sitescout[dashboards]``); nothing at run time imports it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import bargauge, geomap, heatmap, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm
from grafana_foundation_sdk.models import heatmap as hm
from grafana_foundation_sdk.models import prometheus as pm

from sitescout.infra.dashboard_parts import (
    CAMERA_LINK, DATASOURCE, GREY, HEALTH_STEPS, SITE_DEVICES, SITE_LINK, SITE_OK, STREAM_OK, UP_DOWN, YES_NO,
    by_thresholds, dashboard, fixed, grid, instant, latest, legend_table, lines,
    merged_table, named, per_series, prop, query, red_green, sel, sel_recorded, threshold_at, tooltip_all,
    up_down_timeline, variables)
from sitescout.probes.worker import metric_defs as md

__all__ = ["DASHBOARDS", "build", "render", "write"]


def link_dashboard() -> db.Dashboard:
    """Smokeping-style view of each device's link: RTT smoke around the median, loss, jitter."""
    rtt = sel(md.LINK_RTT, suffix="_bucket")
    smoke = (timeseries.Panel().id(29).title("$device: round-trip time (smokeping)")
             .description("Median echo RTT (line) inside the band between the 10th and 90th percentiles (the "
                          "smoke); loss as red bars on the right axis.")
             .datasource(DATASOURCE).grid_pos(dm.GridPos(x=0, y=0, w=24, h=9))
             .repeat("device").repeat_direction("v").max_per_row(1)
             .unit("s").min(0).show_points(cm.VisibilityMode.NEVER).line_width(1).fill_opacity(0)
             .legend(cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                     .placement(cm.LegendPlacement.BOTTOM))
             .tooltip(tooltip_all()))
    for ref, q in (("A", "0.1"), ("B", "0.5"), ("C", "0.9")):
        legend = {"0.1": "p10", "0.5": "median", "0.9": "p90"}[q]
        smoke.with_target(query(ref, f"histogram_quantile({q}, sum by (device, le) (rate({rtt}[$__rate_interval])))",
                                legend))
    smoke.with_target(query("D", sel(md.LINK_LOSS), "loss"))
    smoke.override_by_query("A", [fixed(GREY), prop("custom.lineWidth", 0)])
    smoke.override_by_query("C", [fixed(GREY), prop("custom.lineWidth", 0), prop("custom.fillOpacity", 40),
                                  prop("custom.fillBelowTo", "p10")])
    smoke.override_by_query("B", [fixed("green"), prop("custom.lineWidth", 2)])
    smoke.override_by_query("D", [prop("unit", "percentunit"), prop("max", 1), prop("custom.axisPlacement", "right"),
                                  prop("custom.drawStyle", "bars"), prop("custom.fillOpacity", 70), fixed("red")])
    dist = (heatmap.Panel().id(30).title("Round-trip time distribution")
            .description("How many echoes came back in each RTT bucket over time (all selected devices).")
            .datasource(DATASOURCE).grid_pos(dm.GridPos(x=0, y=9, w=12, h=9))
            .with_target(query("A", f"sum by (le) (increase({rtt}[$__rate_interval]))", "{{le}}",
                               pm.PromQueryFormat.HEATMAP))
            .calculate(False).y_axis(heatmap.YAxisConfig().unit("s").axis_placement(cm.AxisPlacement.LEFT))
            .color(heatmap.HeatmapColorOptions().mode(hm.HeatmapColorMode.SCHEME).scheme("Oranges").fill("dark-orange")
                   .scale(hm.HeatmapColorScale.EXPONENTIAL).exponent(0.5).steps(64).reverse(False))
            .cell_gap(1).show_y_histogram().show_legend()
            .rows_frame(heatmap.RowsHeatmapOptions().layout(cm.HeatmapCellLayout.AUTO))
            .filter_values(heatmap.FilterValueRange().le(1e-09)))
    jitter = per_series(31, "Jitter", "Interarrival jitter of each link round (RFC 3550 style), which smokeping "
                        "does not show.", grid(12, 9, 12, 9), sel(md.LINK_JITTER)).unit("s").min(0)
    loss = (per_series(32, "Loss (1m mean)", "Share of echo requests lost, averaged over a minute. The alert "
                       "threshold is 5 %.", grid(0, 18, 12, 8), sel_recorded(md.LINK_LOSS, "avg1m"))
            .unit("percentunit").min(0).max(1).thresholds_style(cb.GraphThresholdsStyleConfig()
                                                         .mode(cm.GraphThresholdsStyleMode.LINE))
            .thresholds(threshold_at(0.05)))
    mean = (per_series(33, "Mean round-trip time (1m)", "Mean echo RTT over a minute. The alert threshold is "
                       "250 ms.", grid(12, 18, 12, 8), sel_recorded(md.LINK_RTT, "mean1m"))
            .unit("s").min(0).thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE))
            .thresholds(threshold_at(0.25)))
    dash = dashboard("sitescout-link", "link quality", "Smokeping-style view of each device's link: the RTT "
                      "distribution as smoke around the median, loss and jitter.", ["link"])
    variables(dash, md.DEVICE_UP)
    for panel in (smoke, dist, jitter, loss, mean):
        dash.with_panel(panel)
    return dash


def site_dashboard() -> db.Dashboard:
    """One site: its devices, links and streams."""
    site = 'site=~"$site"'
    devices = (merged_table(13, "Devices", "Every device of the site with its latest link figures. Click a camera "
                            "for its detail.", grid(0, 0, 24, 8),
                            [sel(md.DEVICE_UP, site), sel(md.LINK_LOSS, site),
                             sel_recorded(md.LINK_RTT, "mean1m", site),
                             sel(md.LINK_JITTER, site)])
               .align(cm.FieldTextAlignment.AUTO)
               .override_by_name("Value #A", [*named("up"), prop("mappings", [UP_DOWN]),
                                              prop("custom.cellOptions", {"type": "color-text"})])
               .override_by_name("Value #B", named("loss", "percentunit"))
               .override_by_name("Value #C", named("RTT (1m mean)", "s"))
               .override_by_name("Value #D", named("jitter", "s"))
               .override_by_name("device", [prop("links", [{"title": "Camera detail", "url": CAMERA_LINK}])]))
    up = up_down_timeline(14, "Device up", "Whether each device answered its link probes.", grid(0, 8, 12, 8),
                          sel(md.DEVICE_UP, site), "{{device}}")
    streams = up_down_timeline(15, "Streams working", "Each stream: live, moving and not black (green), or not (red).",
                               grid(12, 8, 12, 8), f"{STREAM_OK}{{{site}}}", "{{device}} {{profile}}")
    rtt = per_series(16, "Round-trip time (1m mean)", "Mean echo round-trip time per device.", grid(0, 16, 12, 8),
                     sel_recorded(md.LINK_RTT, "mean1m", site)).unit("s")
    loss = (per_series(17, "Packet loss", "Share of echo requests lost in each link round.", grid(12, 16, 12, 8),
                       sel(md.LINK_LOSS, site)).unit("percentunit").min(0).max(1)
            .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(60))
    cameras = (merged_table(18, "Cameras", "Identity of each camera (ONVIF) and its clock offset from the worker.",
                            grid(0, 24, 24, 7), [sel(md.CAMERA_INFO, site), sel(md.ONVIF_CLOCK_OFFSET, site)],
                            {"Value #A": True})
               .override_by_name("Value #B", named("clock offset", "s")))
    dash = dashboard("sitescout-site", "site detail", "One site: its devices, links and streams; its switches' "
                     "ports, uplinks and PoE.", ["site"])
    variables(dash, md.DEVICE_UP, devices=None)
    for panel in (devices, up, streams, rtt, loss, cameras):
        dash.with_panel(panel)
    dash.with_row(db.Row("Switches: ports, uplinks and PoE").id(34).collapsed(False).grid_pos(grid(0, 31, 24, 1)))
    for panel in switch_panels(site, 32):
        dash.with_panel(panel)
    return dash


def switch_panels(site: str, y: int) -> list[Any]:
    """Return the SNMP panels of a site from row `y`: ports, uplinks, uplink traffic, PoE draw and port errors."""
    port_keys = "site, device, interface, if_index"
    uplinks = f"on ({port_keys}) ({sel(md.INTERFACE_UPLINK, site)} == 1)"
    utilisation = "sitescout:interface_utilisation:ratio_rate5m"
    ports = (merged_table(35, "Topology: switches and their ports", "Every port of the site's switches and routers "
                          "read over SNMP, by switch: link (up/down), enabled, speed, whether it is an uplink or a "
                          "camera's port, its utilisation (the busier direction, 5-minute rate) and the PoE power "
                          "it delivers.", grid(0, y, 24, 8),
                          [sel(md.INTERFACE_UP, site), sel(md.INTERFACE_ADMIN_UP, site), sel(md.INTERFACE_SPEED, site),
                           sel(md.INTERFACE_UPLINK, site), sel(md.INTERFACE_CAMERA, site),
                           f"max without (direction) ({utilisation}{{{site}}})", sel(md.POE_POWER, site)])
             .align(cm.FieldTextAlignment.AUTO)
             .sort_by([cb.TableSortByFieldState().display_name("link").desc(False)])
             .override_by_name("Value #A", [*named("link"), prop("mappings", [UP_DOWN]),
                                            prop("custom.cellOptions", {"type": "color-text"})])
             .override_by_name("Value #B", [*named("enabled"), prop("mappings", [YES_NO])])
             .override_by_name("Value #C", named("speed", "bps"))
             .override_by_name("Value #D", [*named("uplink"), prop("mappings", [YES_NO])])
             .override_by_name("Value #E", [*named("camera"), prop("mappings", [YES_NO])])
             .override_by_name("Value #F", [*named("utilisation", "percentunit"),
                                            prop("thresholds", {"mode": "absolute", "steps": [
                                                {"color": "green", "value": None}, {"color": "red", "value": 0.7}]}),
                                            prop("custom.cellOptions", {"type": "color-text"})])
             .override_by_name("Value #G", named("PoE", "watt")))
    links = up_down_timeline(36, "Uplinks", "Link of each port named as an uplink: a red bar is a village cut off "
                             "(the SitescoutUplinkDown alert).", grid(0, y + 8, 12, 7),
                             f"{sel(md.INTERFACE_UP, site)} and {uplinks}", "{{device}} {{interface}}")
    rate = "[$__rate_interval]"
    traffic = (lines(37, "Uplink traffic", "Bits per second received and sent on each uplink, against its speed "
                     "(dashed).", grid(12, y + 8, 12, 7),
                     ((f"rate({sel(md.INTERFACE_RECEIVE_BYTES, site)}{rate}) * 8 and {uplinks}",
                       "{{device}} {{interface}} in"),
                      (f"rate({sel(md.INTERFACE_TRANSMIT_BYTES, site)}{rate}) * 8 and {uplinks}",
                       "{{device}} {{interface}} out"),
                      (f"{sel(md.INTERFACE_SPEED, site)} and {uplinks}", "{{device}} {{interface}} speed")))
               .unit("bps").min(0)
               .override_by_query("C", [prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})]))
    poe = (lines(38, "PoE draw against budget", "Power drawn from each switch's PoE supply and its budget "
                 "(dashed). The alert fires above 80 % for 10 minutes.", grid(0, y + 15, 12, 7),
                 ((sel(md.POE_CONSUMPTION, site), "{{device}} draw"), (sel(md.POE_BUDGET, site), "{{device}} budget")))
           .unit("watt").min(0).override_by_query("B", [prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})]))
    per_port = per_series(39, "PoE per port", "Power each PoE port delivers (where the switch reports it).",
                          grid(12, y + 15, 12, 7), sel(md.POE_POWER, site), "{{device}} {{interface}}").unit("watt")
    errors = (lines(40, "Port errors and discards", "Packets with errors or discarded per second, per port (only "
                    "ports that have any).", grid(0, y + 22, 24, 7),
                    tuple((f"rate({sel(d, site)}{rate}) > 0", f"{{{{device}}}} {{{{interface}}}} {label}")
                          for d, label in ((md.INTERFACE_RECEIVE_ERRORS, "in errors"),
                                           (md.INTERFACE_TRANSMIT_ERRORS, "out errors"),
                                           (md.INTERFACE_RECEIVE_DISCARDS, "in discards"),
                                           (md.INTERFACE_TRANSMIT_DISCARDS, "out discards"))))
              .unit("pps").min(0))
    busy = (per_series(41, "Uplink utilisation", "Share of each uplink's speed used, per direction (5-minute rate). "
                       "The SitescoutUplinkSaturated alert fires above 70 % for 10 minutes.", grid(0, y + 29, 24, 7),
                       f"{utilisation}{{{site}}} and {uplinks}", "{{device}} {{interface}} {{direction}}")
            .unit("percentunit").min(0).max(1).thresholds(threshold_at(0.7))
            .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE)))
    return [ports, links, traffic, poe, per_port, errors, busy]


def camera_dashboard() -> db.Dashboard:
    """One camera: reachability, ONVIF identity and clock, and each stream against its profile's promise."""
    link = latest(19, "Link", "Latest link probe.", grid(0, 0, 4, 4), sel(md.DEVICE_UP), "up")
    onvif = latest(20, "ONVIF", "Latest ONVIF identity probe.", grid(4, 0, 4, 4), sel(md.ONVIF_UP), "onvif")
    for stat_panel in (link, onvif):
        stat_panel.mappings([UP_DOWN]).thresholds(red_green()).color_scheme(by_thresholds())
        stat_panel.color_mode(cm.BigValueColorMode.BACKGROUND)
    clock = (latest(21, "Clock offset", "Camera clock minus worker clock. Over 5 s breaks recordings' times and can "
                    "break ONVIF authentication.", grid(8, 0, 4, 4), sel(md.ONVIF_CLOCK_OFFSET), "offset")
             .unit("s").decimals(1).color_mode(cm.BigValueColorMode.VALUE).color_scheme(by_thresholds())
             .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
                 [dm.Threshold(color="red", value=None), dm.Threshold(color="green", value=-5),
                  dm.Threshold(color="red", value=5)])))
    identity = (table.Panel().id(22).title("Identity").description("Manufacturer, model and firmware reported over "
                                                                     "ONVIF.")
                .datasource(DATASOURCE).grid_pos(grid(12, 0, 12, 4)).with_target(instant("A", sel(md.CAMERA_INFO)))
                .show_header(True).with_transformation(dm.DataTransformerConfig(id_val="organize", options={
                    "excludeByName": {"Time": True, "Value": True, "job": True, "instance": True, "__name__": True}})))
    fps = (lines(23, "Frame rate against the promise", "Measured frames per second, and the rate the profile "
                 "promises (dashed).", grid(0, 4, 12, 8),
                 ((sel(md.STREAM_FPS), "{{profile}} measured"), (sel(md.STREAM_EXPECTED_FPS), "{{profile}} promised")))
           .unit("fps").min(0).override_by_query("B", [prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})]))
    picture = up_down_timeline(24, "Picture", "Per stream: frames arrive (up), the picture changes (moving), it is "
                               "not black.", grid(12, 4, 12, 8), sel(md.STREAM_UP), "{{profile}} up",
                               ((f"1 - {sel(md.STREAM_FROZEN)}", "{{profile}} moving"),
                                (f"1 - {sel(md.STREAM_BLACK)}", "{{profile}} not black")), YES_NO)
    bitrate = lines(25, "Bitrate", "Measured stream bitrate.", grid(0, 12, 8, 7),
                    ((sel(md.STREAM_BITRATE), "{{profile}}"),)).unit("bps").min(0)
    opening = lines(26, "Time to open", "Time from connecting to the first frame.", grid(8, 12, 8, 7),
                    ((sel(md.STREAM_OPEN), "{{profile}}"),)).unit("s").min(0)
    size = (merged_table(27, "Resolution", "Measured picture size per stream.", grid(16, 12, 8, 7),
                         [sel(md.STREAM_WIDTH), sel(md.STREAM_HEIGHT)], {"site": True, "device": True})
            .override_by_name("Value #A", named("width", "px")).override_by_name("Value #B", named("height", "px")))
    rtt = (lines(28, "Round-trip time and loss", "The camera's link: mean echo round-trip time, and the share of "
                 "echoes lost (right axis).", grid(0, 19, 24, 7),
                 ((sel_recorded(md.LINK_RTT, "mean1m"), "RTT (1m mean)"), (sel(md.LINK_LOSS), "loss")))
           .unit("s").override_by_query("B", [prop("unit", "percentunit"), prop("custom.axisPlacement", "right"),
                                              prop("custom.drawStyle", "bars"), fixed("red")]))
    dash = dashboard("sitescout-camera", "camera detail", "One camera: reachability, ONVIF identity and clock, and "
                      "each stream against its profile's promise.", ["camera"])
    variables(dash, md.STREAM_UP, devices="Camera", many=False)
    for panel in (link, onvif, clock, identity, fps, picture, bitrate, opening, size, rtt):
        dash.with_panel(panel)
    return dash


def _sites_map() -> geomap.Panel:
    """Return the map of the sites, a marker per site coloured by its health."""
    health = (f"{SITE_OK} * on (site) group_left (latitude, longitude) "
              f"max by (site, latitude, longitude) ({md.SITE_INFO.name})")
    markers = {"showLegend": True, "style": {
        "size": {"fixed": 10}, "opacity": 0.9, "color": {"field": "Value", "fixed": "dark-green"},
        "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
        "text": {"mode": "field", "field": "site", "fixed": ""},
        "textConfig": {"fontSize": 11, "offsetY": -14, "textAlign": "center", "textBaseline": "bottom"}}}
    return (geomap.Panel().id(1).title("Sites by health")
            .description(f"One marker per site with coordinates ({md.SITE_INFO.name}). Green: every device and stream "
                         "works; orange: half or more; red: less than half. Offline? Replace the basemap with an xyz "
                         "layer served on your network.")
            .datasource(DATASOURCE).grid_pos(grid(0, 0, 14, 14)).with_target(instant("A", health))
            .color_scheme(by_thresholds())
            .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(HEALTH_STEPS))
            .unit("percentunit").min(0).max(1)
            # The SDK types lat and lon as int; Grafana takes degrees.
            .view(geomap.MapViewConfig().id("coords").lat(21.55).lon(105.3)  # type: ignore[arg-type]
                  .zoom(11).all_layers(True))
            .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_attribution(True))
            .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
            .basemap(cb.MapLayerOptions().type("default").name("Basemap").config({}))
            .layers([cb.MapLayerOptions().type("markers").name("Sites").tooltip(True).config(markers)
                     .location(cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS)
                               .latitude("latitude").longitude("longitude"))])
            .with_transformation(dm.DataTransformerConfig(id_val="organize",
                                                          options={"excludeByName": {"Time": True}})))


def overview_dashboard() -> db.Dashboard:
    """Every site on a map coloured by health; totals, worst sites, workers."""
    site = 'site=~"$site"'
    down = f"sum by (site) (1 - {sel(md.DEVICE_UP, site)})"
    devices = latest(2, "Devices up", "Devices that answered their latest link probe, of all known devices.",
                     grid(14, 0, 5, 4), f"sum({sel(md.DEVICE_UP, site)})", "up",
                     (f"count({sel(md.DEVICE_UP, site)})", "known"))
    streams = latest(3, "Streams working", "Streams with a live, moving, non-black picture, of all known streams.",
                     grid(19, 0, 5, 4), f"sum({STREAM_OK}{{{site}}})", "working",
                     (f"count({sel(md.STREAM_UP, site)})", "known"))
    for stat_panel in (devices, streams):
        stat_panel.color_mode(cm.BigValueColorMode.VALUE).text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        stat_panel.orientation(cm.VizOrientation.HORIZONTAL)
    alerts = (latest(4, "Alerts firing", "sitescout alerts firing now, by severity.", grid(14, 4, 10, 3),
                     'count by (severity) (ALERTS{alertname=~"Sitescout.*",alertstate="firing"}) or on () '
                     'label_replace(vector(0), "severity", "none", "", "")', "{{severity}}")
              .thresholds(threshold_at(1)).color_scheme(by_thresholds()).color_mode(cm.BigValueColorMode.BACKGROUND)
              .text_mode(cm.BigValueTextMode.VALUE_AND_NAME))
    worst = (bargauge.Panel().id(5).title("Devices down per site")
             .description("Devices that did not answer their latest link probe.").datasource(DATASOURCE)
             .grid_pos(grid(14, 7, 10, 7))
             .with_target(instant("A", down).format(pm.PromQueryFormat.TIME_SERIES).legend_format("{{site}}"))
             .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
                 [dm.Threshold(color="green", value=None), dm.Threshold(color="orange", value=1),
                  dm.Threshold(color="red", value=2)]))
             .color_scheme(by_thresholds()).min(0).decimals(0).orientation(cm.VizOrientation.HORIZONTAL)
             .display_mode(cm.BarGaugeDisplayMode.BASIC).show_unfilled(True)
             .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)))
    sites = (merged_table(6, "Sites", "Health (share of devices working), device count and devices down, worst "
                          "first. Click a site for its detail.", grid(0, 14, 12, 9),
                          [f"{SITE_OK}{{{site}}}", f"{SITE_DEVICES}{{{site}}}", down], exclude={"Time": True})
             .align(cm.FieldTextAlignment.AUTO)
             .sort_by([cb.TableSortByFieldState().display_name("health").desc(False)])
             .override_by_name("Value #A", [*named("health", "percentunit"), prop("thresholds", {
                 "mode": "absolute", "steps": HEALTH_STEPS}), prop("custom.cellOptions", {"type": "color-background"})])
             .override_by_name("Value #B", named("devices")).override_by_name("Value #C", named("down"))
             .override_by_name("site", [prop("links", [{"title": "Site detail", "url": SITE_LINK}])]))
    health = (per_series(7, "Site health", "Share of each site's devices that work, over time.", grid(12, 14, 12, 9),
                         f"{SITE_OK}{{{site}}}", "{{site}}")
              .unit("percentunit").min(0).max(1).line_width(1).fill_opacity(0)
              .legend(legend_table(("min", "lastNotNull")))
              .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.ASCENDING)))
    workers = (latest(9, "Workers up", "Whether Prometheus can scrape each sitescout worker.", grid(0, 24, 6, 5),
                      'up{job="sitescout-worker"}', "{{instance}}")
               .mappings([UP_DOWN]).thresholds(red_green()).color_scheme(by_thresholds())
               .color_mode(cm.BigValueColorMode.BACKGROUND).text_mode(cm.BigValueTextMode.VALUE_AND_NAME))
    targets = (latest(10, "Targets per worker", "Targets each worker probes (its shard), and whether its last "
                      "configuration reload worked.", grid(6, 24, 6, 5), md.WORKER_TARGETS.name,
                      "{{instance}} shard {{shard}}", (md.CONFIG_RELOAD_OK.name, "{{instance}} config ok"))
               .color_mode(cm.BigValueColorMode.VALUE).text_mode(cm.BigValueTextMode.VALUE_AND_NAME))
    duration = lines(11, "Probe duration p90 by kind", "How long probes take, 90th percentile, per probe kind.",
                     grid(12, 24, 6, 5), ((f"histogram_quantile(0.9, sum by (kind, le) "
                                           f"(rate({sel(md.PROBE_DURATION, '', '_bucket')}[$__rate_interval])))",
                                           "{{kind}}"),)).unit("s")
    errors = (lines(12, "Probe errors by reason", "Failed probes per second, by probe kind and reason (timeout, "
                    "unreachable, auth, malformed …).", grid(18, 24, 6, 5),
                    ((f"sum by (kind, reason) (rate({md.PROBE_ERRORS.name}[$__rate_interval]))",
                      "{{kind}} {{reason}}"),))
              .unit("ops").draw_style(cm.GraphDrawStyle.BARS)
              .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(60))
    dash = dashboard("sitescout-overview", "commune overview", "Every site of the commune on a map, coloured by the "
                     "share of its devices that work; totals, worst sites, workers.", ["overview"])
    variables(dash, md.DEVICE_UP, devices=None, all_sites=True)
    for panel in (_sites_map(), devices, streams, alerts, worst, sites, health):
        dash.with_panel(panel)
    dash.with_row(db.Row("Workers").id(8).collapsed(False).grid_pos(grid(0, 23, 24, 1)))
    for panel in (workers, targets, duration, errors):
        dash.with_panel(panel)
    return dash


#: Generated dashboards by uid (= file stem).
DASHBOARDS: dict[str, Callable[[], db.Dashboard]] = {"sitescout-link": link_dashboard, "sitescout-site": site_dashboard,
                                                     "sitescout-camera": camera_dashboard,
                                                     "sitescout-overview": overview_dashboard}


def build(uid: str) -> dict[str, Any]:
    """Return dashboard `uid` as the JSON model Grafana provisions."""
    model: dict[str, Any] = json.loads(json.dumps(DASHBOARDS[uid]().build(), cls=JSONEncoder))
    return model


def render(uid: str) -> str:
    """Return the committed file's text of dashboard `uid`."""
    return json.dumps(build(uid), indent=2, ensure_ascii=False) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every generated dashboard into `directory`; return the files written."""
    paths = []
    for uid in DASHBOARDS:
        path = directory / f"{uid}.json"
        path.write_text(render(uid), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover - the regeneration command
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sitescout.infra.dashboards DIRECTORY (infra/grafana/dashboards of the checkout)")
    for written in write(Path(sys.argv[1])):
        print(written)
