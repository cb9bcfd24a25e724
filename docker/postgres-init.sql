-- Each service owns its database; "clients" is created by POSTGRES_DB.
CREATE DATABASE goals;
