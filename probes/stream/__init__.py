"""Stream probes: the RTSP health check, its child process, frame metrics, memory cap, auth preflight,
error mapping and the survey stage."""
