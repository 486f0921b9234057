"""Fair-practice review: protected groups, disparities, proxies, group performance, the report."""
