"""The parameter catalogue, hardware profiles, workload classes, fleets, scenarios, sweeps and traces (shipped as ``amxmodel.data``)."""
