DROP TABLE noise_counts;
