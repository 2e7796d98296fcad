DROP TABLE incident_hypotheses;
