"""Brain regions: the registry, cutting a region from a scan, label maps, the extraction record and its checks."""
