"""Personal data: self-service export, erasure on request and the retention schedule."""
