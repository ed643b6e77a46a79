-- The one definition of the gallery proper: registered photos that are not made-gold variants.
-- Only these are planned as ordinary screens, ranked, trained on, scored for albums or curated.
CREATE VIEW gallery_images AS SELECT * FROM images WHERE derived_from IS NULL;
